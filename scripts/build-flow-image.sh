#!/usr/bin/env bash
# Build the flow image (the Dockerfile at the repo root) on this machine, with no registry and no network
# during the build: the image detached runs' driver pods run (flow run --cluster --detach).
#
#   scripts/build-flow-image.sh         build flow-local/flow:dev unless it matches the source already
#   scripts/build-flow-image.sh --force build it even when it matches
#
# FROM is the local flow-test/python:3.11 (scripts/build-test-images.sh makes it). flow and its
# dependencies are installed from a wheelhouse built here on the host (`pip wheel`: PyPI is reachable from
# the host), put into the build context, so `docker build` itself reaches nothing.
#
# Cached and idempotent. The image carries a label flow.source=<hash of the Dockerfile, pyproject.toml,
# runner/, backends/ and roots/ as they are in the working tree, and the base image's id>: when it matches,
# nothing is done. The dependencies' wheels are cached in /var/cache/flow-ci/flow-wheels per
# pyproject.toml; only flow's own wheel is built again when the source changes.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
IMAGE=${FLOW_IMAGE:-flow-local/flow:dev}
BASE_IMAGE=flow-test/python:3.11
CACHE=/var/cache/flow-ci/flow-wheels
SOURCES=(Dockerfile .dockerignore pyproject.toml README.md runner backends roots)

die() { echo "build-flow-image: error: $*" >&2; exit 1; }
say() { echo "build-flow-image: $*"; }
now() { echo "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
T0=$(now)

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument '$arg' (usage: build-flow-image.sh [--force])" ;;
  esac
done

if ! timeout 10 docker info >/dev/null 2>&1; then
  say "the Docker engine does not answer; running scripts/docker-up.sh"
  bash "$HERE/docker-up.sh" || die "scripts/docker-up.sh failed, so no image can be built"
fi
bash "$HERE/build-test-images.sh" python >/dev/null || die "scripts/build-test-images.sh python failed"
base_id=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE") || die "no $BASE_IMAGE after build-test-images.sh"

# Every file of the image's source, in a fixed order, with its content: the image is current when this
# hash is its label.
source_key() {
  (
    cd "$REPO"
    find "${SOURCES[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | LC_ALL=C sort -z \
      | xargs -0 sha256sum
    echo "base $base_id"
  ) | sha256sum | cut -c1-16
}
key=$(source_key)
got=$(docker image inspect -f '{{ index .Config.Labels "flow.source" }}' "$IMAGE" 2>/dev/null || true)
if [ "$force" = 0 ] && [ "$got" = "$key" ]; then
  say "$IMAGE matches the source ($key; $(since "$T0"))"
  exit 0
fi

command -v python3 >/dev/null || die "python3 is needed on the host to build the wheelhouse"
python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "the host's python3 must be 3.11, as in $BASE_IMAGE, for the wheels to fit"

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -w 900 9 || die "timed out waiting for $CACHE/.lock (another build-flow-image.sh running?)"

context=$(mktemp -d /tmp/flow-image.XXXXXX)
trap 'rm -rf "$context"' EXIT
(cd "$REPO" && tar -c --exclude=__pycache__ --exclude='*.pyc' -f - "${SOURCES[@]}") | tar -x -C "$context"

# The dependencies' wheels, once per pyproject.toml.
deps_key=$(sha256sum "$REPO/pyproject.toml" | cut -c1-16)
deps=$CACHE/$deps_key
if [ ! -f "$deps/.complete" ]; then
  t=$(now)
  say "building the dependencies' wheels into $deps (log $CACHE/pip-wheel.log)"
  rm -rf "$deps"
  # The extras the Dockerfile installs (FLOW_EXTRAS).
  python3 -m pip wheel --disable-pip-version-check --no-input --progress-bar off --wheel-dir "$deps" \
    "$context[k8s,s3,postgres]" >"$CACHE/pip-wheel.log" 2>&1 || die "pip wheel failed; see $CACHE/pip-wheel.log"
  rm -f "$deps"/flow_pipelines-*.whl
  touch "$deps/.complete"
  find "$CACHE" -mindepth 1 -maxdepth 1 -type d ! -name "$deps_key" -exec rm -rf {} +
  say "wheels ready ($(since "$t"))"
fi
mkdir -p "$context/wheelhouse"
cp "$deps"/*.whl "$context/wheelhouse/"
python3 -m pip wheel --disable-pip-version-check --no-input --progress-bar off --no-deps \
  --wheel-dir "$context/wheelhouse" "$context" >"$CACHE/pip-wheel-flow.log" 2>&1 \
  || die "pip wheel of flow failed; see $CACHE/pip-wheel-flow.log"

t=$(now)
say "docker build $IMAGE from $BASE_IMAGE, offline (log $CACHE/docker-build.log)"
docker build --network none --label "flow.source=$key" \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --build-arg FLOW_PACKAGE=flow-pipelines \
  --build-arg "PIP_INSTALL_OPTIONS=--no-index --find-links /tmp/flow-src/wheelhouse" \
  -t "$IMAGE" "$context" >"$CACHE/docker-build.log" 2>&1 \
  || die "docker build failed; see $CACHE/docker-build.log"
out=$(timeout 60 docker run --rm --network none "$IMAGE" --version 2>&1) \
  || die "$IMAGE does not run: $(echo "$out" | tail -1)"
say "$IMAGE built ($out; $(since "$t")); done ($(since "$T0"))"

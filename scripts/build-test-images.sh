#!/usr/bin/env bash
# Build the local images that flow's docker tests use, with no container registry.
#
#   scripts/build-test-images.sh              build every image below that is missing or outdated
#   scripts/build-test-images.sh busybox ...  only the named ones (python, busybox)
#
#   flow-test/python:3.11     Debian 12 (debootstrap minbase) with python3, pip, venv, numpy, scikit-learn,
#                             and kfp==2.17.3 preinstalled, so that the command of a kfp-compiled
#                             lightweight component ("pip install kfp==X --no-deps", then
#                             "python3 -m kfp.dsl.executor_main") works with no network.
#   flow-test/busybox:latest  Debian's static busybox and its applet links: a tiny image.
#
# Cached and idempotent. Each image carries a label flow.recipe=<hash of what it is built from>:
#   - image present with the current label            -> nothing to do (seconds);
#   - image gone, root-fs tarball in /var/cache/flow-ci -> re-import it (no rebuild);
#   - otherwise build the root fs, keep its tarball in the cache, import it.
# Every import is verified by running the image before it is kept.
#
# Needs root on a Debian 12 host (debootstrap), the Debian mirror and PyPI; starts the Docker engine
# with scripts/docker-up.sh when it does not answer.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=/var/cache/flow-ci
SUITE=bookworm

PY_IMAGE=flow-test/python:3.11
KFP_VERSION=2.17.3
# Debian packages baked into the python image (debootstrap --include).
PY_PACKAGES=python3,python3-pip,python3-venv,python3-numpy,python3-sklearn
BUSYBOX_IMAGE=flow-test/busybox:latest
# Bump when a build step below changes in a way the inputs above do not show.
RECIPE_VERSION=1

IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

die() { echo "build-test-images: error: $*" >&2; exit 1; }
say() { echo "build-test-images: $*"; }

# Wall-clock timing with bash's microsecond clock (some locales write it with a comma).
now() { echo "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
T0=$(now)

# ---------------------------------------------------------------------------------------------------
# Arguments
want_python=0
want_busybox=0
if [ $# = 0 ]; then
  want_python=1; want_busybox=1
fi
for arg in "$@"; do
  case "$arg" in
    python) want_python=1 ;;
    busybox) want_busybox=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown image '$arg' (known: python, busybox)" ;;
  esac
done

# ---------------------------------------------------------------------------------------------------
# Docker first, before taking our lock: docker-up.sh's own self-check calls this script (busybox), and
# would wait forever on a lock we held.
if ! timeout 10 docker info >/dev/null 2>&1; then
  say "the Docker engine does not answer; running scripts/docker-up.sh"
  "$HERE/docker-up.sh" || die "scripts/docker-up.sh failed, so no image can be built"
fi

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, /var/cache/flow-ci)"
mkdir -p "$CACHE/logs" "$CACHE/build" "$CACHE/debs"
exec 9>"$CACHE/.lock"
flock -w 1800 9 || die "timed out waiting for $CACHE/.lock (another build-test-images.sh running?)"

# ---------------------------------------------------------------------------------------------------
# Helpers

# Install Debian packages on the host, updating the package lists only when needed.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  ensure_apt_candidates "$@"
  if ! apt-get install -y -qq "$@" >"$CACHE/logs/apt-install.log" 2>&1; then
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq "$@" >"$CACHE/logs/apt-install.log" 2>&1 \
      || die "apt-get install $* failed; see $CACHE/logs/apt-install.log"
  fi
}

# Run 'apt-get update' once if any of the packages has no install candidate (lists missing or old).
ensure_apt_candidates() {
  local pkg
  for pkg in "$@"; do
    if ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      apt-get update -qq >/dev/null || die "apt-get update failed"
      return 0
    fi
  done
}

# Short hash of the recipe text given as arguments.
recipe_key() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }

# True when IMAGE exists and carries label flow.recipe=KEY.
image_is_current() {
  local got
  got=$(docker image inspect -f '{{ index .Config.Labels "flow.recipe" }}' "$1" 2>/dev/null) || return 1
  [ "$got" = "$2" ]
}

# The Debian mirror to debootstrap from: the one the host's apt uses for $SUITE
# (deb822 *.sources first, then one-line *.list), or $FLOW_DEBIAN_MIRROR if set.
debian_mirror() {
  if [ -n "${FLOW_DEBIAN_MIRROR:-}" ]; then
    echo "${FLOW_DEBIAN_MIRROR%/}"; return 0
  fi
  local f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # Paragraph by paragraph: Types must include "deb", Suites must include $SUITE exactly.
    uri=$(awk -v want="$SUITE" '
      function flush() {
        if (!found && enabled != "no" && uris != "" && (" " types " ") ~ / deb / && (" " suites " ") ~ (" " want " ")) {
          split(uris, u, " "); print u[1]; found = 1
        }
        types = ""; uris = ""; suites = ""; enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "types:"   { $1 = ""; types = $0 }
      tolower($1) == "uris:"    { $1 = ""; uris = $0 }
      tolower($1) == "suites:"  { $1 = ""; suites = $0 }
      tolower($1) == "enabled:" { enabled = tolower($2) }
      END { flush() }
    ' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      # deb [options] URI SUITE COMPONENTS...
      uri=$(awk -v want="$SUITE" '
        $1 == "deb" {
          i = 2
          if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
          if ($(i + 1) == want) { print $i; exit }
        }' "$f")
      [ -n "$uri" ] && break
    done
  fi
  [ -n "$uri" ] || uri=http://deb.debian.org/debian
  echo "${uri%/}"
}

# Remove a root fs we built. debootstrap mounts proc, sys and sometimes devices inside it; a failed run
# can leave them mounted, and a recursive rm must never walk into the host's /proc, /sys or /dev.
remove_rootfs() {
  local dir=$1 m
  [ -e "$dir" ] || return 0
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r)
  if findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1 { found = 1 } END { exit !found }'; then
    die "something is still mounted under $dir; unmount it, then run again"
  fi
  rm -rf --one-file-system "$dir"
}

# Files to clean up when the script ends, however it ends.
CLEANUP=()
on_exit() {
  local p
  for p in "${CLEANUP[@]+"${CLEANUP[@]}"}"; do
    if [ -d "$p" ]; then remove_rootfs "$p" || true; else rm -f "$p"; fi
  done
}
trap on_exit EXIT

# import_image TARBALL IMAGE KEY [docker-import --change args...]
import_image() {
  local tarball=$1 image=$2 key=$3; shift 3
  local t; t=$(now)
  docker import --change "LABEL flow.recipe=$key" "$@" "$tarball" "$image" >/dev/null \
    || die "docker import of $tarball as $image failed"
  say "imported $image from $tarball ($(since "$t"))"
}

# Drop an image that failed verification (and its tarball), so the next run starts clean.
reject_image() {
  local image=$1 tarball=$2 why=$3
  docker rmi -f "$image" >/dev/null 2>&1 || true
  rm -f "$tarball"
  die "$image failed verification: $why"
}

# ---------------------------------------------------------------------------------------------------
# flow-test/busybox:latest

build_busybox_tarball() {
  local tarball=$1 t work rootfs bb link
  t=$(now)
  work=$(mktemp -d "$CACHE/build/busybox.XXXXXX")
  CLEANUP+=("$work")
  # Download and unpack the .deb rather than install it: busybox-static conflicts with the host's
  # busybox package, and the host needs neither.
  ensure_apt_candidates busybox-static
  (cd "$work" && apt-get download -qq busybox-static >"$CACHE/logs/busybox-download.log" 2>&1) \
    || { apt-get update -qq >/dev/null && (cd "$work" && apt-get download -qq busybox-static >"$CACHE/logs/busybox-download.log" 2>&1); } \
    || die "apt-get download busybox-static failed; see $CACHE/logs/busybox-download.log"
  dpkg-deb -x "$work"/busybox-static_*.deb "$work/deb" || die "could not unpack busybox-static"
  bb=$work/deb/bin/busybox
  [ -x "$bb" ] || die "busybox-static has no bin/busybox"

  rootfs=$work/rootfs
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev}
  chmod 1777 "$rootfs/tmp"
  chmod 0700 "$rootfs/root"
  install -m 0755 "$bb" "$rootfs/bin/busybox"
  # One symlink per applet, at the path busybox itself gives (bin/sh, usr/bin/env, sbin/ip, ...).
  while read -r link; do
    [ "$link" = bin/busybox ] && continue
    mkdir -p "$rootfs/$(dirname "$link")"
    ln -sf /bin/busybox "$rootfs/$link"
  done < <("$bb" --list-full)
  [ -L "$rootfs/bin/sh" ] || die "busybox gave no bin/sh applet"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

  tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$tarball.tmp" . || die "could not write $tarball"
  mv -f "$tarball.tmp" "$tarball"
  say "built busybox root fs $tarball ($(since "$t"))"
}

ensure_busybox_image() {
  local t key tarball out
  t=$(now)
  key=$(recipe_key "busybox recipe $RECIPE_VERSION" "debian $SUITE busybox-static")
  if image_is_current "$BUSYBOX_IMAGE" "$key"; then
    say "$BUSYBOX_IMAGE is up to date ($(since "$t"))"
    return 0
  fi
  tarball=$CACHE/busybox-$key.tar
  if [ -f "$tarball" ]; then
    say "$BUSYBOX_IMAGE missing or outdated; re-importing cached $tarball"
  else
    rm -f "$CACHE"/busybox-*.tar   # tarballs of older recipes
    build_busybox_tarball "$tarball"
  fi
  import_image "$tarball" "$BUSYBOX_IMAGE" "$key" \
    --change "ENV PATH=$IMAGE_PATH" --change 'CMD ["sh"]'
  out=$(timeout 60 docker run --rm --network none "$BUSYBOX_IMAGE" sh -c 'echo ok && ls / >/dev/null' 2>&1) \
    || reject_image "$BUSYBOX_IMAGE" "$tarball" "sh -c 'echo ok' failed: $(echo "$out" | tail -1)"
  [ "$out" = ok ] || reject_image "$BUSYBOX_IMAGE" "$tarball" "printed '$out' instead of 'ok'"
  say "$BUSYBOX_IMAGE ready ($(since "$t"))"
}

# ---------------------------------------------------------------------------------------------------
# flow-test/python:3.11

# A Python 3.11 with pip on the host: kfp and its dependencies are installed into the root fs with it
# (same minor version as the image's Debian python3, so the same wheels fit).
host_python() {
  local cand
  for cand in "${FLOW_HOST_PYTHON:-}" python3 /usr/bin/python3; do
    if [ -z "$cand" ] || ! command -v "$cand" >/dev/null 2>&1; then continue; fi
    "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || continue
    "$cand" -m pip --version >/dev/null 2>&1 || continue
    echo "$cand"; return 0
  done
  return 1
}

build_python_tarball() {
  local tarball=$1 t t_all mirror rootfs site py f
  t_all=$(now)
  command -v debootstrap >/dev/null 2>&1 || { say "installing debootstrap from apt"; apt_install debootstrap; }
  py=$(host_python) || { say "installing python3-pip on the host"; apt_install python3-pip; py=/usr/bin/python3; }
  mirror=$(debian_mirror)

  rootfs=$CACHE/build/python-rootfs
  remove_rootfs "$rootfs"
  CLEANUP+=("$rootfs")

  t=$(now)
  say "debootstrap $SUITE from $mirror with $PY_PACKAGES (a few minutes; log $CACHE/logs/debootstrap.log)"
  debootstrap --variant=minbase --include="$PY_PACKAGES" --cache-dir="$CACHE/debs" \
    "$SUITE" "$rootfs" "$mirror" >"$CACHE/logs/debootstrap.log" 2>&1 \
    || die "debootstrap failed; see $CACHE/logs/debootstrap.log"
  say "debootstrap done ($(since "$t"))"

  # Debian marks its python3 as externally managed (PEP 668), which makes the components' own
  # 'pip install kfp==X --no-deps' fail; the official python images carry no such marker either.
  rm -f "$rootfs"/usr/lib/python3.*/EXTERNALLY-MANAGED
  # Downloaded .debs and package lists are only weight in an image.
  rm -f "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin
  find "$rootfs/var/lib/apt/lists" -maxdepth 1 -type f ! -name lock -delete

  t=$(now)
  site=$rootfs/usr/local/lib/python3.11/dist-packages
  mkdir -p "$site"
  say "pip install kfp==$KFP_VERSION into the root fs with $py (log $CACHE/logs/pip.log)"
  "$py" -m pip install --disable-pip-version-check --no-input --progress-bar off \
    --no-warn-script-location --target "$site" "kfp==$KFP_VERSION" >"$CACHE/logs/pip.log" 2>&1 \
    || die "pip install kfp==$KFP_VERSION failed; see $CACHE/logs/pip.log"
  # pip --target leaves console scripts in <target>/bin with the host interpreter in their #! line.
  if [ -d "$site/bin" ]; then
    mkdir -p "$rootfs/usr/local/bin"
    for f in "$site"/bin/*; do
      [ -f "$f" ] || continue
      sed -i '1s|^#!.*python.*$|#!/usr/bin/python3|' "$f"
      mv -f "$f" "$rootfs/usr/local/bin/"
    done
    rmdir "$site/bin" 2>/dev/null || true
  fi
  [ -d "$site/kfp" ] || die "kfp is not in $site after pip install"
  say "pip done ($(since "$t"))"

  t=$(now)
  tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" . || die "could not write $tarball"
  mv -f "$tarball.tmp" "$tarball"
  remove_rootfs "$rootfs"
  say "root fs tarball $tarball, $(du -h "$tarball" | cut -f1) ($(since "$t")); built in $(since "$t_all")"
}

ensure_python_image() {
  local t key tarball out
  t=$(now)
  key=$(recipe_key "python recipe $RECIPE_VERSION" "debian $SUITE minbase $PY_PACKAGES" "kfp==$KFP_VERSION")
  if image_is_current "$PY_IMAGE" "$key"; then
    say "$PY_IMAGE is up to date ($(since "$t"))"
    return 0
  fi
  tarball=$CACHE/python-3.11-$key.tar
  if [ -f "$tarball" ]; then
    say "$PY_IMAGE missing or outdated; re-importing cached $tarball"
  else
    rm -f "$CACHE"/python-3.11-*.tar   # tarballs of older recipes
    build_python_tarball "$tarball"
  fi
  import_image "$tarball" "$PY_IMAGE" "$key" \
    --change "ENV PATH=$IMAGE_PATH" --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_DISABLE_PIP_VERSION_CHECK=1' --change 'CMD ["python3"]'

  # What a kfp-compiled lightweight component does first, with no network at all.
  local t_check; t_check=$(now)
  # shellcheck disable=SC2016  # $KFP_VERSION is expanded by the container's shell, from -e.
  out=$(timeout 180 docker run --rm --network none -e KFP_VERSION="$KFP_VERSION" "$PY_IMAGE" sh -c '
      set -e
      command -v sh >/dev/null && command -v echo >/dev/null && test -x /bin/echo
      python3 -m pip install --quiet --no-warn-script-location "kfp==$KFP_VERSION" --no-deps
      python3 -c "import kfp.dsl.executor_main, sklearn, numpy; import kfp; assert kfp.__version__ == \"$KFP_VERSION\", kfp.__version__"
      echo ok' 2>&1) \
    || reject_image "$PY_IMAGE" "$tarball" "$(echo "$out" | tail -1)"
  [ "$(echo "$out" | tail -1)" = ok ] || reject_image "$PY_IMAGE" "$tarball" "unexpected output: $(echo "$out" | tail -1)"
  say "verified $PY_IMAGE offline: pip install kfp==$KFP_VERSION --no-deps, import kfp.dsl.executor_main + sklearn ($(since "$t_check"))"
  say "$PY_IMAGE ready ($(since "$t"))"
}

# ---------------------------------------------------------------------------------------------------
if [ "$want_busybox" = 1 ]; then ensure_busybox_image; fi
if [ "$want_python" = 1 ]; then ensure_python_image; fi
say "done ($(since "$T0"))"

#!/usr/bin/env bash
# Make a Docker engine answer on this machine, for flow's docker tests.
#
#   scripts/docker-up.sh            start (and if needed install) the engine; no-op when it answers
#   scripts/docker-up.sh --check    also run the self-check when the engine was already up
#
# Idempotent. Built for a fresh Debian 12 machine run as root, where only the Debian mirror and PyPI
# are reachable (no container registry), and for the sandbox kernels that refuse a negative
# oom_score_adj (see shared/ENVIRONMENT.md). On a laptop with Docker already running it returns at once.
#
# Leaves dockerd running in the background:
#   log      /var/log/flow-dockerd.log
#   pidfile  /run/flow-dockerd.pid  (written and removed by dockerd itself)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG=/var/log/flow-dockerd.log
PIDFILE=/run/flow-dockerd.pid
LOCK=/run/flow-docker-up.lock
WRAPPER=/usr/local/lib/flow/runc-wrapper
RUNTIME_NAME=flow-runc
DEADLINE_S=60
CHECK_IMAGE=flow-test/busybox:latest

die() { echo "docker-up: error: $*" >&2; exit 1; }
say() { echo "docker-up: $*"; }

docker_answers() { command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; }

force_check=0
case "${1:-}" in
  "") ;;
  --check) force_check=1 ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) die "unknown argument '$1' (usage: docker-up.sh [--check])" ;;
esac

# Fast path: nothing to do. Keep this before anything slow or privileged.
if docker_answers && [ "$force_check" = 0 ]; then
  exit 0
fi

START=$(date +%s)
elapsed() { echo "$(( $(date +%s) - START ))s"; }

# ---------------------------------------------------------------------------------------------------
# Self-check: a container runs, a memory limit works, and (with the wrapper) a negative oom score too.
# The check image is the tiny busybox image; build-test-images.sh owns how it is made.
self_check() {
  if ! docker image inspect "$CHECK_IMAGE" >/dev/null 2>&1; then
    say "building $CHECK_IMAGE for the self-check"
    "$HERE/build-test-images.sh" busybox || die "could not build $CHECK_IMAGE for the self-check"
  fi
  local out
  out=$(docker run --rm --network none "$CHECK_IMAGE" true 2>&1) \
    || die "'docker run --rm $CHECK_IMAGE true' failed: $(echo "$out" | tail -1)"
  # cgroup v1 without swap accounting prints a WARNING here; only the exit code matters.
  out=$(docker run --rm --network none --memory 64m "$CHECK_IMAGE" true 2>&1) \
    || die "'docker run --memory 64m' failed: $(echo "$out" | tail -1)"
  out=$(docker run --rm --network none --oom-score-adj=-500 "$CHECK_IMAGE" true 2>&1) \
    || die "'docker run --oom-score-adj=-500' failed (is the runc wrapper active?): $(echo "$out" | tail -1)"
  say "self-check passed: run, --memory 64m, --oom-score-adj=-500 ($(elapsed))"
}

if docker_answers; then   # only reached with --check
  self_check
  exit 0
fi

[ "$(id -u)" = 0 ] || die "the Docker engine is not answering and starting it needs root (run as root)"

# One caller at a time: two concurrent callers must not both start a dockerd.
exec 9>"$LOCK"
flock -w 300 9 || die "timed out waiting for $LOCK (another docker-up.sh running?)"
if docker_answers && [ "$force_check" = 0 ]; then
  exit 0   # another caller brought it up while we waited
fi

# ---------------------------------------------------------------------------------------------------
# Install docker.io (dockerd, containerd, runc, client) when dockerd is missing.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  # Update the package lists only when needed: when a package has no candidate, or when the install
  # fails (the lists may be stale and name files the mirror no longer has).
  local pkg need_update=0
  for pkg in "$@"; do
    apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]' || need_update=1
  done
  if [ "$need_update" = 1 ]; then
    apt-get update -qq >/dev/null || die "apt-get update failed"
  fi
  if ! apt-get install -y -qq "$@" >/tmp/flow-apt-install.log 2>&1; then
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq "$@" >/tmp/flow-apt-install.log 2>&1 \
      || die "apt-get install $* failed; see /tmp/flow-apt-install.log"
  fi
}

if ! command -v dockerd >/dev/null 2>&1; then
  say "installing docker.io from apt"
  apt_install docker.io
  say "installed docker.io ($(elapsed))"
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd not found even after installing docker.io"
command -v docker >/dev/null 2>&1 || die "the docker client is not found"

# ---------------------------------------------------------------------------------------------------
# Does this kernel let root set a negative oom_score_adj? Try it in a throw-away child process.
# Where it is refused, runc fails every container created with a negative value ("can't get final
# child's PID from pipe: EOF"), and kubelet asks for -998 for every pod sandbox, so we put a wrapper in
# front of runc that rewrites the value to 0.
dockerd_args=(--pidfile "$PIDFILE")
if sh -c 'echo -1 > /proc/self/oom_score_adj' 2>/dev/null; then
  say "negative oom_score_adj allowed: using plain runc"
else
  say "negative oom_score_adj refused by the kernel: using the runc wrapper $WRAPPER"
  RUNC=$(command -v runc || true)
  [ -n "$RUNC" ] || RUNC=/usr/sbin/runc
  [ -x "$RUNC" ] || die "runc not found (expected /usr/sbin/runc from the runc package)"
  # The wrapper must not depend on PATH or on a user's Python (pyenv shims need HOME and friends,
  # which containerd's environment may lack): use the system python3 by absolute path.
  PY=""
  for cand in /usr/bin/python3 /usr/local/bin/python3; do
    if [ -x "$cand" ] && "$cand" -c 'import json, os' 2>/dev/null; then PY=$cand; break; fi
  done
  if [ -z "$PY" ]; then
    apt_install python3-minimal
    PY=/usr/bin/python3
  fi

  mkdir -p "$(dirname "$WRAPPER")"
  tmp=$(mktemp "$WRAPPER.XXXXXX")
  # Unquoted heredoc: only RUNC and PY are expanded now; everything escaped is for run time.
  cat >"$tmp" <<EOF
#!/bin/sh
# runc wrapper written by flow's scripts/docker-up.sh. Registered as the default dockerd runtime on
# kernels that refuse a negative oom_score_adj: for 'create' and 'run' it rewrites a negative
# process.oomScoreAdj in the bundle's config.json to 0, then runs the real runc with the same args.
RUNC=$RUNC
PY=$PY

# Find the subcommand: the first argument that is neither a global option nor a global option's value.
sub=""
bundle="."
expect_value=0
want_bundle=0
for arg in "\$@"; do
  if [ "\$want_bundle" = 1 ]; then bundle=\$arg; want_bundle=0; continue; fi
  if [ -z "\$sub" ]; then
    if [ "\$expect_value" = 1 ]; then expect_value=0; continue; fi
    case "\$arg" in
      --root|--log|--log-format|--criu|--rootless) expect_value=1 ;;
      -*) ;;
      *) sub=\$arg ;;
    esac
    continue
  fi
  case "\$arg" in
    --bundle|-b) want_bundle=1 ;;
    --bundle=*) bundle=\${arg#--bundle=} ;;
    -b=*) bundle=\${arg#-b=} ;;
  esac
done

case "\$sub" in
  create|run)
    config="\$bundle/config.json"
    # Cheap test first; Python only when there is something to rewrite.
    if [ -f "\$config" ] && grep -Eq '"oomScoreAdj"[[:space:]]*:[[:space:]]*-' "\$config"; then
      "\$PY" - "\$config" <<'PYEOF' || { echo "flow runc-wrapper: could not rewrite oomScoreAdj in \$config" >&2; exit 1; }
import json, os, sys
path = sys.argv[1]
with open(path) as f:
    config = json.load(f)
process = config.get("process") or {}
if process.get("oomScoreAdj", 0) < 0:
    process["oomScoreAdj"] = 0
    tmp = path + ".flow-tmp"
    with open(tmp, "w") as f:
        json.dump(config, f)
    os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    os.replace(tmp, path)
PYEOF
    fi
    ;;
esac
exec "\$RUNC" "\$@"
EOF
  chmod 0755 "$tmp"
  mv -f "$tmp" "$WRAPPER"
  dockerd_args+=(--add-runtime "$RUNTIME_NAME=$WRAPPER" --default-runtime "$RUNTIME_NAME")
  # dockerd also tries to give itself -500 (and its containerd the same); that is refused here too,
  # so ask for 0 and keep the log free of warnings.
  dockerd_args+=(--oom-score-adjust 0)
fi

# ---------------------------------------------------------------------------------------------------
# Start dockerd unless one is already running (e.g. still starting up, or started by someone else).
dockerd_pid=""
if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  dockerd_pid=$(cat "$PIDFILE")
  say "dockerd already running (pid $dockerd_pid); waiting for it to answer"
elif command -v pgrep >/dev/null 2>&1 && pid=$(pgrep -x dockerd | head -1) && [ -n "$pid" ]; then
  dockerd_pid=$pid
  say "a dockerd not started by this script is running (pid $dockerd_pid); waiting for it to answer"
else
  rm -f "$PIDFILE"
  say "starting dockerd (log $LOG)"
  echo "=== $(date -Is) docker-up.sh: dockerd ${dockerd_args[*]}" >>"$LOG"
  # setsid + nohup: dockerd must outlive this script and its terminal/job; fd 9 (the lock) not inherited.
  setsid nohup dockerd "${dockerd_args[@]}" >>"$LOG" 2>&1 9>&- </dev/null &
  dockerd_pid=$!
fi

# Alive if the pid we know is, or if dockerd has written its pidfile with a live pid.
dockerd_alive() {
  kill -0 "$dockerd_pid" 2>/dev/null && return 0
  [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

deadline=$(( $(date +%s) + DEADLINE_S ))
until docker_answers; do
  if ! dockerd_alive; then
    echo "--- last lines of $LOG:" >&2; tail -n 15 "$LOG" >&2 || true
    die "dockerd (pid $dockerd_pid) exited before answering; see $LOG"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "--- last lines of $LOG:" >&2; tail -n 15 "$LOG" >&2 || true
    die "dockerd did not answer 'docker info' within ${DEADLINE_S}s; see $LOG"
  fi
  sleep 0.5
done
say "dockerd answers (pid $dockerd_pid, $(elapsed))"

# Release the lock before the self-check: it may run build-test-images.sh, which may call us back.
exec 9>&-
self_check
say "ready ($(elapsed))"

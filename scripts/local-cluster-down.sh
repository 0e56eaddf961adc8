#!/usr/bin/env bash
# Stop the single-node Kubernetes that scripts/local-cluster-up.sh started.
#
#   scripts/local-cluster-down.sh           stop the kubelet, the pods' containers, the control plane, etcd
#   scripts/local-cluster-down.sh --purge   also delete the cluster's state in /var/lib/flow-cluster
#                                           (etcd data, kubelet dir, volume contents, kubeconfigs)
#
# Idempotent. Keeps the build cache (/var/cache/flow-ci/k8s), the certificates
# (/var/lib/flow-cluster/pki), the logs (/var/log/flow-cluster) and the Docker engine. Only processes
# named by the pidfiles in /run/flow-cluster are stopped.
set -euo pipefail

STATE=/var/lib/flow-cluster
RUN_DIR=/run/flow-cluster
LOCK=$RUN_DIR/lock
# The kubelet first, so nothing restarts the pods' containers; etcd last.
ORDER=(kubelet kube-scheduler kube-controller-manager kube-apiserver etcd)

die() { echo "local-cluster-down: error: $*" >&2; exit 1; }
say() { echo "local-cluster-down: $*"; }

purge=0
for arg in "$@"; do
  case "$arg" in
    --purge) purge=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument '$arg' (usage: local-cluster-down.sh [--purge])" ;;
  esac
done

[ "$(id -u)" = 0 ] || die "run as root"

if [ -d "$RUN_DIR" ]; then
  exec 9>"$LOCK"
  flock -w 600 9 || die "timed out waiting for $LOCK (local-cluster-up.sh running?)"
fi

alive() {  # PID: running (a zombie is not)
  local state
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
  state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] && [ "$state" != X ]
}

is_component() {  # PID NAME: that process runs the component's binary (perhaps since replaced)
  local exe
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)}
  [ "${exe##*/}" = "$2" ]
}

stop() {  # NAME: TERM the pid in its pidfile, KILL after 20 s
  local name=$1 pid n=0
  pid=$(cat "$RUN_DIR/$name.pid" 2>/dev/null || true)
  if alive "$pid" && ! is_component "$pid" "$name"; then
    # A stale pidfile (the machine restarted, the pid was reused): not ours to stop.
    say "pidfile of $name names pid $pid, which is not $name; leaving it alone"
  elif alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid" && [ "$n" -lt 200 ]; do sleep 0.1; n=$((n + 1)); done
    if alive "$pid"; then
      say "$name (pid $pid) ignored SIGTERM for 20s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.cmd"
}

for name in "${ORDER[@]}"; do
  stop "$name"
  if [ "$name" = kubelet ] && command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; then
    # dockershim names every pod's container (and its pause sandbox) k8s_<container>_<pod>_...
    ids=$(docker ps -aq --filter name='^/?k8s_' || true)
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086  # one id per word
      docker rm -f $ids >/dev/null || die "could not remove the pods' containers"
      say "removed $(echo "$ids" | wc -w) pod container(s)"
    fi
  fi
done

# The kubelet mounts a tmpfs for every pod's secrets and tokens under its root dir; unmount what is
# left (deepest first) so nothing under the state dir stays busy.
if [ -d "$STATE" ] && command -v findmnt >/dev/null 2>&1; then
  findmnt -rn -o TARGET | awk -v s="$STATE/" 'index($0, s) == 1' | sort -r | while read -r mnt; do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || say "could not unmount $mnt"
  done
fi

if [ "$purge" = 1 ] && [ -d "$STATE" ]; then
  # Everything but the certificates: a fresh etcd next time, so the ServiceAccount token (and with it
  # flow.kubeconfig) is issued anew.
  find "$STATE" -mindepth 1 -maxdepth 1 ! -name pki -exec rm -rf {} +
  say "purged $STATE (kept $STATE/pki)"
fi
say "stopped"

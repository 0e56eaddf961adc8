#!/usr/bin/env bash
# Make an S3-compatible server answer on this machine for s3:// pipeline roots, and print its environment.
#
#   scripts/s3-up.sh          start moto's server (moto[server], a dev dependency) unless it answers
#   scripts/s3-up.sh --stop   stop the server this script started
#
# Idempotent; quick when the server already answers. The server listens on 0.0.0.0:$FLOW_S3_PORT (9000 by
# default) so that Docker containers and pods reach it at the Docker bridge gateway, 172.17.0.1: the
# endpoint printed is that address, which serves this machine, its containers and its pods alike.
# Its state (buckets, objects) lives in memory and goes with the process. Pid file and log are in
# /var/lib/flow-s3. Credentials are not checked by moto: any key pair works; the one printed is flow's.
set -euo pipefail

PORT=${FLOW_S3_PORT:-9000}
STATE=/var/lib/flow-s3
PIDFILE=$STATE/moto.pid
LOG=$STATE/moto.log
DEADLINE_S=30

die() { echo "s3-up: error: $*" >&2; exit 1; }
say() { echo "s3-up: $*" >&2; }

stop=0
case "${1:-}" in
  "") ;;
  --stop) stop=1 ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) die "unknown argument '$1' (usage: s3-up.sh [--stop])" ;;
esac

bridge=$(ip -4 -o addr show docker0 2>/dev/null | awk '{ split($4, a, "/"); print a[1]; exit }')
bridge=${bridge:-172.17.0.1}
ENDPOINT=http://$bridge:$PORT

# Ours only when the pid file names a live moto_server: never stop a process that merely reused the pid.
ours_running() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q moto_server
}

answers() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/moto-api/" 2>/dev/null; }

if [ "$stop" = 1 ]; then
  if ours_running; then
    kill "$(cat "$PIDFILE")"
    say "stopped moto_server (pid $(cat "$PIDFILE"))"
  fi
  rm -f "$PIDFILE"
  exit 0
fi

mkdir -p "$STATE"
if ! answers; then
  if ours_running; then
    die "moto_server (pid $(cat "$PIDFILE")) runs but does not answer on port $PORT; see $LOG"
  fi
  command -v moto_server >/dev/null 2>&1 \
    || die "moto_server not found: pip install -e '.[dev]' installs moto[server]"
  say "starting moto_server on 0.0.0.0:$PORT (log $LOG)"
  # setsid: the server outlives this script and the shell that ran it.
  setsid moto_server -H 0.0.0.0 -p "$PORT" >"$LOG" 2>&1 </dev/null &
  launched=$!
  echo "$launched" >"$PIDFILE"
  deadline=$(( $(date +%s) + DEADLINE_S ))
  until answers; do
    # Alive, not "ours": until the child has exec'd setsid its command line is still this script's, and
    # on a loaded machine the first check can come that early.
    kill -0 "$launched" 2>/dev/null || die "moto_server exited at start; see $LOG"
    [ "$(date +%s)" -lt "$deadline" ] || die "moto_server does not answer after ${DEADLINE_S}s; see $LOG"
    sleep 0.2
  done
fi
curl -fsS -o /dev/null --max-time 2 "$ENDPOINT/moto-api/" \
  || die "the server answers on 127.0.0.1:$PORT but not at $ENDPOINT (containers and pods use that)"
say "S3 answers at $ENDPOINT"
cat <<EOF
export AWS_ENDPOINT_URL=$ENDPOINT
export AWS_ACCESS_KEY_ID=flow
export AWS_SECRET_ACCESS_KEY=flow-secret
export AWS_DEFAULT_REGION=us-east-1
export FLOW_TEST_S3_ENDPOINT=$ENDPOINT
EOF

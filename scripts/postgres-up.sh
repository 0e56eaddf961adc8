#!/usr/bin/env bash
# Make a PostgreSQL server answer on this machine for a shared flow store, and print its FLOW_STORE URL.
#
#   scripts/postgres-up.sh          install Debian's postgresql if missing, start it, print the URL
#
# Idempotent; quick when the server is already up and configured. Built for Debian run as root.
# The server listens on 127.0.0.1 and on the Docker bridge gateway (172.17.0.1), so that containers and
# pods reach it too; it takes passwords from loopback and 172.16.0.0/12 only. Role and database are
# `flow` (FLOW_POSTGRES_PASSWORD sets the role's password, "flow" by default).
set -euo pipefail

PASSWORD=${FLOW_POSTGRES_PASSWORD:-flow}
BRIDGE_DEFAULT=172.17.0.1
PORT=5432
DEADLINE_S=60
HBA_MARK="# flow: password logins from loopback and container networks"

die() { echo "postgres-up: error: $*" >&2; exit 1; }
say() { echo "postgres-up: $*" >&2; }

case "${1:-}" in
  "") ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) die "unknown argument '$1' (usage: postgres-up.sh)" ;;
esac
[ "$(id -u)" = 0 ] || die "run as root (it installs and configures the system's postgresql)"
case "$PASSWORD" in *"'"*) die "FLOW_POSTGRES_PASSWORD must not contain a single quote" ;; esac

if ! command -v pg_lsclusters >/dev/null 2>&1 || [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
  say "installing Debian's postgresql"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if [ -z "$(pg_lsclusters -h)" ]; then
  # Debian's package creates a "main" cluster unless told not to; make one where that did not happen.
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  pg_createcluster "$version" main >/dev/null
fi
read -r VERSION CLUSTER _ < <(pg_lsclusters -h | head -n 1)
CONF_DIR=/etc/postgresql/$VERSION/$CLUSTER

# The bridge's address when Docker made one; the default gateway address otherwise (PostgreSQL starts
# with the addresses it can bind and says which it could not).
bridge=$(ip -4 -o addr show docker0 2>/dev/null | awk '{ split($4, a, "/"); print a[1]; exit }' || true)
bridge_up=${bridge:+1}
bridge=${bridge:-$BRIDGE_DEFAULT}

changed=0  # listen addresses: a restart
rules_changed=0  # pg_hba.conf: a reload
wanted_conf="listen_addresses = '127.0.0.1,$bridge'
port = $PORT"
mkdir -p "$CONF_DIR/conf.d"
if [ "$(cat "$CONF_DIR/conf.d/flow.conf" 2>/dev/null)" != "$wanted_conf" ]; then
  printf '%s\n' "$wanted_conf" >"$CONF_DIR/conf.d/flow.conf"
  changed=1
fi
# samehost: the host's own addresses, since a connection from this machine to the bridge address may come
# from another of its interfaces.
for rule in "host all all 127.0.0.1/32 scram-sha-256" "host all all samehost scram-sha-256" \
    "host all all 172.16.0.0/12 scram-sha-256"; do
  if ! grep -qxF "$rule" "$CONF_DIR/pg_hba.conf"; then
    grep -qxF "$HBA_MARK" "$CONF_DIR/pg_hba.conf" || printf '%s\n' "$HBA_MARK" >>"$CONF_DIR/pg_hba.conf"
    printf '%s\n' "$rule" >>"$CONF_DIR/pg_hba.conf"
    rules_changed=1
  fi
done

status=$(pg_lsclusters -h | awk -v c="$CLUSTER" '$2 == c { print $4 }')
if [ "$status" != online ]; then
  say "starting cluster $VERSION/$CLUSTER"
  pg_ctlcluster "$VERSION" "$CLUSTER" start
elif [ "$changed" = 1 ] || { [ -n "$bridge_up" ] && ! ss -Hltn "src $bridge and sport = :$PORT" | grep -q .; }; then
  # New settings, or a bridge that Docker made after the server started and so is not listened on yet.
  say "restarting cluster $VERSION/$CLUSTER for its new settings"
  pg_ctlcluster "$VERSION" "$CLUSTER" restart
elif [ "$rules_changed" = 1 ]; then
  pg_ctlcluster "$VERSION" "$CLUSTER" reload
fi

as_postgres() { runuser -u postgres -- psql --port "$PORT" -v ON_ERROR_STOP=1 -qtAX "$@"; }
deadline=$(( $(date +%s) + DEADLINE_S ))
until as_postgres -c 'SELECT 1' >/dev/null 2>&1; do
  [ "$(date +%s)" -lt "$deadline" ] || die "the server did not answer in ${DEADLINE_S}s (see /var/log/postgresql/)"
  sleep 0.5
done

if [ "$(as_postgres -c "SELECT 1 FROM pg_roles WHERE rolname = 'flow'")" != 1 ]; then
  as_postgres -c "CREATE ROLE flow LOGIN PASSWORD '$PASSWORD'"
else
  as_postgres -c "ALTER ROLE flow LOGIN PASSWORD '$PASSWORD'"
fi
if [ "$(as_postgres -c "SELECT 1 FROM pg_database WHERE datname = 'flow'")" != 1 ]; then
  as_postgres -c "CREATE DATABASE flow OWNER flow"
fi

echo "postgresql://flow:$PASSWORD@$bridge:$PORT/flow"

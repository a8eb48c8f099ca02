#!/usr/bin/env bash
# A fail-over drill on one machine, with throwaway clusters: a primary with
# primary.conf, a synchronous streaming replica made as replica.md says, a commit that
# both have, the primary stopped hard, the replica promoted, and writes that wait for a
# synchronous standby until docs/deploy.md's step 4 releases them. Needs PostgreSQL 15's
# server binaries; run as root (it runs the servers as the postgres user) or as postgres.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"
port="${DRILL_PORT:-55432}"
if [ ! -x "$bin/initdb" ]; then
    if [ "${CI:-}" = "true" ]; then
        echo "PostgreSQL 15's server binaries are missing in $bin" >&2
        exit 1
    fi
    echo "fail-over drill not run: no PostgreSQL 15 server binaries in $bin (set PG_BIN)"
    exit 0
fi
work="$(mktemp -d)"
as_postgres=()
[ "$(id -un)" = postgres ] || as_postgres=(runuser -u postgres --)
as_pg() { "${as_postgres[@]}" "$@"; }
psql_on() { as_pg "$bin/psql" -X -q -At -h "$work" -p "$1" -d postgres -c "$2"; }
cleanup() {
    as_pg "$bin/pg_ctl" -D "$work/primary" -m immediate stop >/dev/null 2>&1 || true
    as_pg "$bin/pg_ctl" -D "$work/replica" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
[ -n "${DRILL_KEEP:-}" ] && trap - EXIT
chown postgres "$work" 2>/dev/null || true

echo "== primary with deploy/postgresql/primary.conf (port $port)"
as_pg "$bin/initdb" -D "$work/primary" -U postgres --auth=trust >/dev/null
cp "$here/primary.conf" "$work/primary/triage.conf"
cat >> "$work/primary/postgresql.conf" <<CONF
include_if_exists = 'triage.conf'
port = $port
listen_addresses = ''
unix_socket_directories = '$work'
shared_buffers = 128MB          # the drill's machine, not the production size
effective_cache_size = 512MB
synchronous_standby_names = ''  # until the replica streams (replica.md)
CONF
echo "local replication replicator trust" >> "$work/primary/pg_hba.conf"
as_pg "$bin/pg_ctl" -D "$work/primary" -l "$work/primary.log" -w start >/dev/null
psql_on "$port" "CREATE ROLE replicator REPLICATION LOGIN"

echo "== replica made as replica.md says (port $((port + 1)))"
as_pg "$bin/pg_basebackup" -h "$work" -p "$port" -U replicator -D "$work/replica" \
    --wal-method=stream --write-recovery-conf --slot=triage_replica --create-slot
# The replica keeps primary.conf's synchronous setting, as a real one would.
sed -i "/^synchronous_standby_names = ''/d" "$work/replica/postgresql.conf"
cat >> "$work/replica/postgresql.auto.conf" <<CONF
primary_conninfo = 'host=$work port=$port user=replicator application_name=triage_replica'
port = $((port + 1))
CONF
as_pg "$bin/pg_ctl" -D "$work/replica" -l "$work/replica.log" -w start >/dev/null
psql_on "$port" "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (triage_replica)'"
psql_on "$port" "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 50); do
    state="$(psql_on "$port" "SELECT sync_state FROM pg_stat_replication" || true)"
    [ "$state" = sync ] && break
    sleep 0.2
done
echo "replica's sync_state: $state"
[ "$state" = sync ]

echo "== a commit on the primary is on the replica when it returns"
psql_on "$port" "CREATE TABLE drill (id int); INSERT INTO drill VALUES (1)"
[ "$(psql_on $((port + 1)) "SELECT count(*) FROM drill")" = 1 ]

echo "== the primary fails; the replica is promoted"
as_pg "$bin/pg_ctl" -D "$work/primary" -m immediate stop >/dev/null
psql_on $((port + 1)) "SELECT pg_promote()" >/dev/null
[ "$(psql_on $((port + 1)) "SELECT pg_is_in_recovery()")" = f ]
[ "$(psql_on $((port + 1)) "SELECT count(*) FROM drill")" = 1 ]

echo "== writes wait for a synchronous standby that is gone..."
waited=0
timeout 3 "${as_postgres[@]}" "$bin/psql" -X -q -h "$work" -p $((port + 1)) -d postgres \
    -c "INSERT INTO drill VALUES (2)" >/dev/null 2>&1 || waited=$?
[ "$waited" = 124 ] || { echo "expected the write to wait (exit $waited)" >&2; exit 1; }
echo "== ...until synchronous_standby_names is cleared (docs/deploy.md, step 4)"
psql_on $((port + 1)) "ALTER SYSTEM SET synchronous_standby_names = ''"
psql_on $((port + 1)) "SELECT pg_reload_conf()" >/dev/null
psql_on $((port + 1)) "INSERT INTO drill VALUES (3)"
[ "$(psql_on $((port + 1)) "SELECT count(*) FROM drill")" = 3 ]  # the waiting one too
echo "fail-over drill passed"

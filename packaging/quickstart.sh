#!/usr/bin/env bash
# walship quick start: installs what is missing, builds the native binary, and runs the main job on a
# throw-away PostgreSQL 15 primary that archives to a file:// repository, with a standby that replays
# from that repository alone. Everything lives in $QUICKSTART_DIR (default /tmp/walship-quickstart),
# and the servers are stopped at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${QUICKSTART_DIR:-/tmp/walship-quickstart}"
PG_BIN=/usr/lib/postgresql/15/bin
say() { printf '\n== %s\n' "$*"; }

say "installing dependencies"
bash "$ROOT/packaging/install-deps.sh"

say "building the native binary"
(cd "$ROOT" && dotnet publish src/WalShip -c Release -r linux-x64 -o artifacts/bin --verbosity quiet -nologo)

rm -rf "$DIR"
mkdir -p "$DIR/repo"
install -m 0755 "$ROOT/artifacts/bin/walship" "$DIR/walship"
"$DIR/walship" --version

# PostgreSQL refuses to run as root: run it as the postgres user when we are root.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$DIR"

REPO="file://$DIR/repo"
PRIMARY="$DIR/primary" STANDBY="$DIR/standby"
PORT1=54321 PORT2=54322

cleanup() {
  as_pg "$PG_BIN/pg_ctl" -D "$STANDBY" -m fast -w stop >/dev/null 2>&1 || true
  as_pg "$PG_BIN/pg_ctl" -D "$PRIMARY" -m fast -w stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "primary: initdb, archive_command = 'walship push %p %f' into $REPO"
as_pg "$PG_BIN/initdb" -D "$PRIMARY" -U postgres --auth=trust >/dev/null
cat >> "$PRIMARY/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT1
unix_socket_directories = '$DIR'
archive_mode = on
archive_command = 'WALSHIP_REPO=$REPO $DIR/walship push %p %f'
CONF
as_pg "$PG_BIN/pg_ctl" -D "$PRIMARY" -l "$DIR/primary.log" -w start >/dev/null
psql1() { psql -X -h "$DIR" -p "$PORT1" -U postgres -qAt "$@"; }
as_pg "$PG_BIN/pgbench" -h "$DIR" -p "$PORT1" -U postgres -i -s 5 -q postgres >/dev/null 2>&1

say "standby: pg_basebackup, standby.signal, restore_command = 'walship fetch %f %p', no streaming"
as_pg pg_basebackup -h "$DIR" -p "$PORT1" -U postgres -D "$STANDBY" -X stream -c fast >/dev/null
cat >> "$STANDBY/postgresql.conf" <<CONF
port = $PORT2
restore_command = 'WALSHIP_REPO=$REPO $DIR/walship fetch %f %p'
wal_retrieve_retry_interval = '1s'
CONF
touch "$STANDBY/standby.signal"
as_pg "$PG_BIN/pg_ctl" -D "$STANDBY" -l "$DIR/standby.log" -w start >/dev/null

say "primary: pgbench, then pg_switch_wal()"
as_pg "$PG_BIN/pgbench" -h "$DIR" -p "$PORT1" -U postgres -t 2000 -c 4 postgres >/dev/null 2>&1
want=$(psql1 -c "select count(*) from pgbench_history")
segment=$(psql1 -c "select pg_walfile_name(pg_switch_wal())")
for _ in $(seq 1 60); do
  got=$(psql -X -h "$DIR" -p "$PORT2" -U postgres -qAt -c "select count(*) from pgbench_history" 2>/dev/null || echo 0)
  [ "$got" = "$want" ] && break
  sleep 1
done

say "what walship logged on the primary (archive_command)"
grep 'walship:' "$DIR/primary.log" | tail -n 5
say "what walship logged on the standby (restore_command)"
grep 'walship:' "$DIR/standby.log" | grep -v 'not in archive' | tail -n 5
say "the repository"
find "$DIR/repo" -type f | sort | tail -n 6
say "result"
echo "primary pgbench_history rows: $want (last archived segment $segment)"
echo "standby pgbench_history rows: $got, in recovery: $(psql -X -h "$DIR" -p "$PORT2" -U postgres -qAt -c 'select pg_is_in_recovery()')"
if [ "$got" != "$want" ]; then
  echo "standby did not catch up; see $DIR/standby.log" >&2
  exit 1
fi
echo "OK: the standby replayed the primary's WAL from $REPO alone."

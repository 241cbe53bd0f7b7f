#!/usr/bin/env bash
# Base backup throughput of the native binary: walship backup push (pg_basebackup -> zstd -> multipart
# upload) and walship backup fetch (ranged GETs -> zstd -> SHA-256 -> tar extraction) on a pgbench
# database, against a file:// repository and against s3rver on loopback. MB/s are of the raw tar
# (the database as pg_basebackup sends it). Usage: bench/backup-throughput.sh [pgbench-scale]
# Needs packaging/install-deps.sh and a published binary (artifacts/bin/walship).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCALE="${1:-20}"
BIN="$ROOT/artifacts/bin/walship"
PG_BIN=/usr/lib/postgresql/15/bin
WORK="$(mktemp -d /tmp/walship-bench-backup.XXXXXX)"
chmod 755 "$WORK"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK"
cp "$BIN" "$WORK/walship" && chmod 755 "$WORK/walship"
S3PID=""
cleanup() {
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate -w stop >/dev/null 2>&1 || true
  [ -n "$S3PID" ] && kill "$S3PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/s3" "$WORK/repo"
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/s3" "$WORK/repo"
node --openssl-legacy-provider "$ROOT/tests/s3rver/node_modules/s3rver/bin/s3rver.js" -d "$WORK/s3" -a 127.0.0.1 -p 45997 --silent --configure-bucket bench >/dev/null 2>&1 &
S3PID=$!
for _ in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:45997/ && break; sleep 0.1; done

S3ENV=(WALSHIP_ENDPOINT=http://127.0.0.1:45997 WALSHIP_PATH_STYLE=true AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER)

# One primary per repository (a repository belongs to one cluster).
run_backend() {
  local label="$1" repo="$2"; shift 2
  local env=(env WALSHIP_REPO="$repo" "$@")
  rm -rf "$WORK/pg" "$WORK/restore"
  as_pg "$PG_BIN/initdb" -D "$WORK/pg" -U postgres --auth=trust --no-sync >/dev/null
  cat >> "$WORK/pg/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$WORK'
port = 54398
fsync = off
archive_mode = on
archive_command = '$WORK/walship push %p %f'
CONF
  as_pg "${env[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null
  as_pg "$PG_BIN/pgbench" -h "$WORK" -p 54398 -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
  local t0 t1 t2 raw stored
  t0=$(date +%s%N)
  as_pg "${env[@]}" /usr/bin/time -f "%M" -o "$WORK/rss.push" "$WORK/walship" backup push --pg-basebackup "$PG_BIN/pg_basebackup" \
    --connection "host=$WORK port=54398 user=postgres" > "$WORK/name" 2>>"$WORK/walship.log"
  t1=$(date +%s%N)
  as_pg "${env[@]}" /usr/bin/time -f "%M" -o "$WORK/rss.fetch" "$WORK/walship" backup fetch LATEST "$WORK/restore" >/dev/null 2>>"$WORK/walship.log"
  t2=$(date +%s%N)
  raw=$(as_pg "${env[@]}" "$WORK/walship" backup list --json | python3 -c 'import json,sys; b=json.load(sys.stdin)[-1]; print(b["raw_bytes"], b["stored_bytes"])')
  stored=${raw#* }; raw=${raw% *}
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate -w stop >/dev/null
  python3 - "$label" "$raw" "$stored" "$t0" "$t1" "$t2" "$(tail -n1 "$WORK/rss.push")" "$(tail -n1 "$WORK/rss.fetch")" <<'PY'
import sys
label, raw, stored, t0, t1, t2, rss_push, rss_fetch = sys.argv[1], *map(int, sys.argv[2:])
push, fetch = (t1 - t0) / 1e9, (t2 - t1) / 1e9
print(f"| {label} | {raw / 2**20:.0f} MiB | {stored / 2**20:.0f} MiB | {push:.1f} s | {raw / 2**20 / push:.0f} MiB/s | {fetch:.1f} s | {raw / 2**20 / fetch:.0f} MiB/s | {rss_push // 1024} MiB | {rss_fetch // 1024} MiB |")
PY
}

echo "| repository | database (raw tar) | stored | backup push | push rate | backup fetch | fetch rate | push peak RSS | fetch peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|"
run_backend "file://" "file://$WORK/repo"
run_backend "s3 (s3rver, loopback)" "s3://bench/db" "${S3ENV[@]}"

# pgBackRest on the same database size, posix repository (its S3 driver needs TLS, which s3rver lacks here).
if command -v pgbackrest >/dev/null; then
  rm -rf "$WORK/pg" "$WORK/restore"
  mkdir -p "$WORK/pbr" "$WORK/pbr-log" "$WORK/pbr-lock"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/pbr" "$WORK/pbr-log" "$WORK/pbr-lock"
  cat > "$WORK/pgbackrest.conf" <<CONF
[global]
repo1-path=$WORK/pbr
start-fast=y
compress-type=zst
compress-level=1
process-max=2
repo1-retention-full=99
log-level-console=warn
log-path=$WORK/pbr-log
lock-path=$WORK/pbr-lock
[bench]
pg1-path=$WORK/pg
pg1-socket-path=$WORK
pg1-port=54398
CONF
  chmod 644 "$WORK/pgbackrest.conf"
  PBR=(pgbackrest --config="$WORK/pgbackrest.conf" --stanza=bench)
  as_pg "$PG_BIN/initdb" -D "$WORK/pg" -U postgres --auth=trust --no-sync >/dev/null
  cat >> "$WORK/pg/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$WORK'
port = 54398
fsync = off
archive_mode = on
archive_command = 'pgbackrest --config=$WORK/pgbackrest.conf --stanza=bench archive-push %p'
CONF
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null
  as_pg "$PG_BIN/pgbench" -h "$WORK" -p 54398 -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
  as_pg "${PBR[@]}" stanza-create >/dev/null
  t0=$(date +%s%N)
  as_pg /usr/bin/time -f "%M" -o "$WORK/rss.push" "${PBR[@]}" backup --type=full >/dev/null
  t1=$(date +%s%N)
  as_pg /usr/bin/time -f "%M" -o "$WORK/rss.fetch" "${PBR[@]}" restore --pg1-path="$WORK/restore" >/dev/null
  t2=$(date +%s%N)
  raw=$(du -sb --exclude=pg_wal "$WORK/restore" | cut -f1)
  stored=$(du -sb "$WORK/pbr/backup" | cut -f1)
  python3 - "$(pgbackrest version), posix" "$raw" "$stored" "$t0" "$t1" "$t2" "$(tail -n1 "$WORK/rss.push")" "$(tail -n1 "$WORK/rss.fetch")" <<'PY'
import sys
label, raw, stored, t0, t1, t2, rss_push, rss_fetch = sys.argv[1], *map(int, sys.argv[2:])
push, fetch = (t1 - t0) / 1e9, (t2 - t1) / 1e9
print(f"| {label} | {raw / 2**20:.0f} MiB | {stored / 2**20:.0f} MiB | {push:.1f} s | {raw / 2**20 / push:.0f} MiB/s | {fetch:.1f} s | {raw / 2**20 / fetch:.0f} MiB/s | {rss_push // 1024} MiB | {rss_fetch // 1024} MiB |")
PY
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate -w stop >/dev/null
fi
echo
echo "pgbench scale $SCALE; defaults (zstd level 1, 2 compression threads, 8MiB parts, 4 at once); $(nproc) cores"

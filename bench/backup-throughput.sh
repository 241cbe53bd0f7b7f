#!/usr/bin/env bash
# Base backup throughput of the native binary: walship backup push (pg_basebackup -> zstd -> multipart
# upload) and walship backup fetch (ranged GETs -> zstd -> SHA-256 -> tar extraction) on a pgbench
# database, against a file:// repository and against s3rver on loopback. MB/s are of the raw tar
# (the database as pg_basebackup sends it). Usage: bench/backup-throughput.sh [pgbench-scale]
# Needs packaging/install-deps.sh and a published binary (artifacts/bin/walship).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SCALE="${1:-20}"
BIN="$ROOT/artifacts/bin/walship"
bench_work_dir /tmp/walship-bench-backup.XXXXXX
cp "$BIN" "$WORK/walship" && chmod 755 "$WORK/walship"

mkdir -p "$WORK/s3" "$WORK/repo"
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/s3" "$WORK/repo"
start_s3rver "$WORK/s3" 45997 --silent --configure-bucket bench

S3ENV=(WALSHIP_ENDPOINT="$S3RVER_ENDPOINT" WALSHIP_PATH_STYLE=true AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER)

# One table row from the raw and stored bytes and the push and fetch times (ms) of a tool run with
# /usr/bin/time -f %M -o $WORK/rss.push (and rss.fetch): label raw stored push-ms fetch-ms.
print_row() {
  python3 - "$@" "$(tail -n1 "$WORK/rss.push")" "$(tail -n1 "$WORK/rss.fetch")" <<'PY'
import sys
label, raw, stored, push_ms, fetch_ms, rss_push, rss_fetch = sys.argv[1], *map(int, sys.argv[2:])
push, fetch = push_ms / 1e3, fetch_ms / 1e3
print(f"| {label} | {raw / 2**20:.0f} MiB | {stored / 2**20:.0f} MiB | {push:.1f} s | {raw / 2**20 / push:.0f} MiB/s | {fetch:.1f} s | {raw / 2**20 / fetch:.0f} MiB/s | {rss_push // 1024} MiB | {rss_fetch // 1024} MiB |")
PY
}

# One primary per repository (a repository belongs to one cluster).
run_backend() {
  local label="$1" repo="$2"; shift 2
  local env=(env WALSHIP_REPO="$repo" "$@")
  rm -rf "$WORK/pg" "$WORK/restore"
  init_cluster "$WORK/pg" 54398
  cat >> "$WORK/pg/postgresql.conf" <<CONF
archive_mode = on
archive_command = '$WORK/walship push %p %f'
CONF
  as_pg "${env[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null
  as_pg "$PG_BIN/pgbench" -h "$WORK" -p 54398 -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
  local push_ms fetch_ms raw stored
  wall_time as_pg "${env[@]}" /usr/bin/time -f "%M" -o "$WORK/rss.push" "$WORK/walship" backup push --pg-basebackup "$PG_BIN/pg_basebackup" \
    --connection "host=$WORK port=54398 user=postgres" > "$WORK/name" 2>>"$WORK/walship.log"
  push_ms=$WALL_MS
  wall_time as_pg "${env[@]}" /usr/bin/time -f "%M" -o "$WORK/rss.fetch" "$WORK/walship" backup fetch LATEST "$WORK/restore" >/dev/null 2>>"$WORK/walship.log"
  fetch_ms=$WALL_MS
  raw=$(as_pg "${env[@]}" "$WORK/walship" backup list --json | python3 -c 'import json,sys; b=json.load(sys.stdin)[-1]; print(b["raw_bytes"], b["stored_bytes"])')
  stored=${raw#* }; raw=${raw% *}
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate -w stop >/dev/null
  print_row "$label" "$raw" "$stored" "$push_ms" "$fetch_ms"
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
  init_cluster "$WORK/pg" 54398
  cat >> "$WORK/pg/postgresql.conf" <<CONF
archive_mode = on
archive_command = 'pgbackrest --config=$WORK/pgbackrest.conf --stanza=bench archive-push %p'
CONF
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null
  as_pg "$PG_BIN/pgbench" -h "$WORK" -p 54398 -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
  as_pg "${PBR[@]}" stanza-create >/dev/null
  wall_time as_pg /usr/bin/time -f "%M" -o "$WORK/rss.push" "${PBR[@]}" backup --type=full >/dev/null
  push_ms=$WALL_MS
  wall_time as_pg /usr/bin/time -f "%M" -o "$WORK/rss.fetch" "${PBR[@]}" restore --pg1-path="$WORK/restore" >/dev/null
  fetch_ms=$WALL_MS
  raw=$(du -sb --exclude=pg_wal "$WORK/restore" | cut -f1)
  stored=$(du -sb "$WORK/pbr/backup" | cut -f1)
  print_row "$(pgbackrest version), posix" "$raw" "$stored" "$push_ms" "$fetch_ms"
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate -w stop >/dev/null
fi
echo
echo "pgbench scale $SCALE; defaults (zstd level 1, 2 compression threads, 8MiB parts, 4 at once); $(nproc) cores"

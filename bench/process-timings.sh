#!/usr/bin/env bash
# Whole-process timings of the native binary on real 16 MiB WAL segments from a pgbench run:
# per-segment push and fetch time (median of N) and peak RSS, against a file:// repository and
# against the local S3 server (s3rver on loopback). Usage: bench/process-timings.sh [segments]
# Needs packaging/install-deps.sh and a published binary (artifacts/bin/walship).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N="${1:-8}"
BIN="$ROOT/artifacts/bin/walship"
bench_work_dir /tmp/walship-bench.XXXXXX

echo "generating $N segments of pgbench WAL..." >&2
init_cluster "$WORK/pg" 54399
cat >> "$WORK/pg/postgresql.conf" <<CONF
wal_keep_size = '4GB'
synchronous_commit = off
CONF
as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null
as_pg "$PG_BIN/pgbench" -h "$WORK" -p 54399 -U postgres -i -s 10 -q postgres >/dev/null 2>&1
start=$(psql -X -h "$WORK" -p 54399 -U postgres -qAt -c "select pg_walfile_name(pg_current_wal_lsn())")
while :; do
  as_pg "$PG_BIN/pgbench" -h "$WORK" -p 54399 -U postgres -T 5 -c 8 -j 2 postgres >/dev/null 2>&1
  cur=$(psql -X -h "$WORK" -p 54399 -U postgres -qAt -c "select pg_walfile_name(pg_current_wal_lsn())")
  count=$(ls "$WORK/pg/pg_wal" | awk -v s="$start" -v c="$cur" 'length($0) == 24 && $0 ~ /^[0-9A-F]+$/ && ($0 "") > (s "") && ($0 "") < (c "")' | wc -l)
  [ "$count" -ge "$N" ] && break
done
mkdir -p "$WORK/data/pg_wal"
ls "$WORK/pg/pg_wal" | awk -v s="$start" -v c="$cur" 'length($0) == 24 && $0 ~ /^[0-9A-F]+$/ && ($0 "") > (s "") && ($0 "") < (c "")' | head -n "$N" \
  | while read -r seg; do cp "$WORK/pg/pg_wal/$seg" "$WORK/data/pg_wal/"; done
segments=$(ls "$WORK/data/pg_wal")
as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null

# Runs one walship call under /usr/bin/time, expecting exit code $2; appends "ms rss_kib" to $1.
timed() {
  local out="$1" expect="$2"; shift 2
  local rc=0
  wall_time /usr/bin/time -f "%M" -o "$WORK/rss" "$BIN" "$@" 2>>"$WORK/walship.log" || rc=$?
  if [ "$rc" -ne "$expect" ]; then echo "walship $* exited $rc, expected $expect:" >&2; tail -n 3 "$WORK/walship.log" >&2; exit 1; fi
  echo "$WALL_MS $(tail -n 1 "$WORK/rss")" >> "$out"
}

run_backend() {
  local id="$1" label="$2"
  rm -f "$WORK/push.$id" "$WORK/fetch.$id" "$WORK/absent.$id"
  cd "$WORK/data"
  for seg in $segments; do timed "$WORK/push.$id" 0 push "pg_wal/$seg" "$seg"; done
  for seg in $segments; do timed "$WORK/fetch.$id" 0 fetch "$seg" pg_wal/RECOVERYXLOG; cmp -s pg_wal/RECOVERYXLOG "pg_wal/$seg" || { echo "fetched $seg differs" >&2; exit 1; }; done
  for i in $(seq 1 "$N"); do timed "$WORK/absent.$id" 1 fetch 0000000100000000000000FF pg_wal/RECOVERYXLOG; done
  rm -f pg_wal/RECOVERYXLOG
  raw=$(cat $(for s in $segments; do echo "pg_wal/$s"; done) | wc -c)
  printf '| %s | %s | %s ms | %s ms | %s ms | %s MiB | %s MiB |\n' "$label" "$N" \
    "$(cut -d' ' -f1 "$WORK/push.$id" | median)" "$(cut -d' ' -f1 "$WORK/fetch.$id" | median)" \
    "$(cut -d' ' -f1 "$WORK/absent.$id" | median)" \
    "$(( $(column_max 2 < "$WORK/push.$id") / 1024 ))" "$(( $(column_max 2 < "$WORK/fetch.$id") / 1024 ))"
}

echo "| repository | segments | push (median) | fetch (median) | fetch absent (median) | push peak RSS | fetch peak RSS |"
echo "|---|---|---|---|---|---|---|"
mkdir -p "$WORK/repo"
WALSHIP_REPO="file://$WORK/repo" run_backend file "file://"

start_s3rver "$WORK/s3" 45998 --silent --configure-bucket bench
WALSHIP_REPO=s3://bench/wal WALSHIP_ENDPOINT="$S3RVER_ENDPOINT" WALSHIP_PATH_STYLE=true AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER run_backend s3 "s3 (s3rver, loopback)"
echo
echo "zstd level: ${WALSHIP_COMPRESSION_LEVEL:-default}; raw bytes per segment: 16777216; $(nproc) cores"

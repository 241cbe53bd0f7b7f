#!/usr/bin/env bash
# Whole-process timings of the native binary on real 16 MiB WAL segments from a pgbench run:
# per-segment push and fetch time (median of N) and peak RSS, against a file:// repository and
# against the local S3 server (s3rver on loopback). Usage: bench/process-timings.sh [segments]
# Needs packaging/install-deps.sh and a published binary (artifacts/bin/walship).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-8}"
BIN="$ROOT/artifacts/bin/walship"
PG_BIN=/usr/lib/postgresql/15/bin
WORK="$(mktemp -d /tmp/walship-bench.XXXXXX)"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK"
S3PID=""
cleanup() {
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate -w stop >/dev/null 2>&1 || true
  [ -n "$S3PID" ] && kill "$S3PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "generating $N segments of pgbench WAL..." >&2
as_pg "$PG_BIN/initdb" -D "$WORK/pg" -U postgres --auth=trust --no-sync >/dev/null
cat >> "$WORK/pg/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$WORK'
port = 54399
wal_keep_size = '4GB'
fsync = off
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
  local t0 t1 rc=0
  t0=$(date +%s%N)
  /usr/bin/time -f "%M" -o "$WORK/rss" "$BIN" "$@" 2>>"$WORK/walship.log" || rc=$?
  t1=$(date +%s%N)
  if [ "$rc" -ne "$expect" ]; then echo "walship $* exited $rc, expected $expect:" >&2; tail -n 3 "$WORK/walship.log" >&2; exit 1; fi
  echo "$(( (t1 - t0) / 1000000 )) $(tail -n 1 "$WORK/rss")" >> "$out"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
maxcol2() { awk 'BEGIN{m=0} {if ($2>m) m=$2} END {print m}'; }

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
    "$(( $(maxcol2 < "$WORK/push.$id") / 1024 ))" "$(( $(maxcol2 < "$WORK/fetch.$id") / 1024 ))"
}

echo "| repository | segments | push (median) | fetch (median) | fetch absent (median) | push peak RSS | fetch peak RSS |"
echo "|---|---|---|---|---|---|---|"
mkdir -p "$WORK/repo"
WALSHIP_REPO="file://$WORK/repo" run_backend file "file://"

mkdir -p "$WORK/s3"
node --openssl-legacy-provider "$ROOT/tests/s3rver/node_modules/s3rver/bin/s3rver.js" -d "$WORK/s3" -a 127.0.0.1 -p 45998 --silent --configure-bucket bench >/dev/null 2>&1 &
S3PID=$!
for _ in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:45998/ && break; sleep 0.1; done
WALSHIP_REPO=s3://bench/wal WALSHIP_ENDPOINT=http://127.0.0.1:45998 WALSHIP_PATH_STYLE=true AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER run_backend s3 "s3 (s3rver, loopback)"
echo
echo "zstd level: ${WALSHIP_COMPRESSION_LEVEL:-default}; raw bytes per segment: 16777216; $(nproc) cores"

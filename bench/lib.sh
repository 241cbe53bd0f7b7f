# Helpers the bench scripts share; sourced, not run: `. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"` after
# `set -euo pipefail`. Its EXIT trap stops the clusters made with init_cluster (and any added to
# BENCH_CLUSTERS) and the s3rver start_s3rver started, then removes the scratch directory bench_work_dir
# made, unless KEEP_WORK is set (then it says where the directory is).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_BIN=/usr/lib/postgresql/15/bin
S3RVER="$ROOT/tests/s3rver/node_modules/s3rver/bin/s3rver.js"

BENCH_CLUSTERS=()
S3RVER_PID=""
BENCH_OWN_WORK=""

# PostgreSQL will not run as root: as root, run the command as the postgres user.
as_pg() { if [ "$EUID" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# Creates WORK from the mktemp template $1, open to every user and, as root, owned by postgres.
bench_work_dir() {
  WORK="$(mktemp -d "$1")"
  BENCH_OWN_WORK=1
  chmod 755 "$WORK"
  if [ "$EUID" -eq 0 ]; then chown postgres: "$WORK"; fi
}

bench_cleanup() {
  local data
  for data in "${BENCH_CLUSTERS[@]}"; do as_pg "$PG_BIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true; done
  if [ -n "$S3RVER_PID" ]; then
    kill "$S3RVER_PID" 2>/dev/null || true
    wait "$S3RVER_PID" 2>/dev/null || true
  fi
  if [ -n "$BENCH_OWN_WORK" ]; then
    if [ -n "${KEEP_WORK:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
  fi
}
trap bench_cleanup EXIT

# initdb a cluster in directory $1 that listens only on a socket in $WORK, port $2, without fsync;
# append further settings to $1/postgresql.conf. The EXIT trap stops it if it still runs.
init_cluster() {
  as_pg "$PG_BIN/initdb" -D "$1" -U postgres --auth=trust --no-sync >/dev/null
  cat >> "$1/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$WORK'
port = $2
fsync = off
CONF
  if [[ " ${BENCH_CLUSTERS[*]} " != *" $1 "* ]]; then BENCH_CLUSTERS+=("$1"); fi
}

# Starts s3rver on 127.0.0.1, storing in directory $1, on port $2 (0: any free port, read back from its
# log, which needs it without --silent); further arguments are s3rver options. With --tls before the
# directory it serves HTTPS with a throw-away self-signed certificate, $WORK/s3.crt (key $WORK/s3.key).
# Returns once it answers; sets S3RVER_PID, S3RVER_PORT and S3RVER_ENDPOINT. It logs to $WORK/s3rver.log.
start_s3rver() {
  local scheme=http tls=()
  if [ "$1" = --tls ]; then
    shift
    scheme=https
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
      -keyout "$WORK/s3.key" -out "$WORK/s3.crt" >/dev/null 2>&1
    chmod 644 "$WORK/s3.key" "$WORK/s3.crt"
    tls=(--key "$WORK/s3.key" --cert "$WORK/s3.crt")
  fi
  local dir="$1" port="$2"; shift 2
  mkdir -p "$dir"
  node --openssl-legacy-provider "$S3RVER" --directory "$dir" --address 127.0.0.1 --port "$port" "${tls[@]}" "$@" \
    >"$WORK/s3rver.log" 2>&1 &
  S3RVER_PID=$!
  if [ "$port" = 0 ]; then
    for _ in $(seq 1 100); do grep -q "listening on" "$WORK/s3rver.log" && break; sleep 0.1; done
    port="$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$WORK/s3rver.log" | head -1)"
  fi
  S3RVER_PORT="$port"
  S3RVER_ENDPOINT="$scheme://127.0.0.1:$port"
  for _ in $(seq 1 100); do curl -sk -o /dev/null "$S3RVER_ENDPOINT/" && break; sleep 0.1; done
}

# Runs "$@" and sets WALL_MS to the milliseconds it took; returns its exit status.
wall_time() {
  local t0 rc=0
  t0=$(date +%s%N)
  "$@" || rc=$?
  WALL_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
  return "$rc"
}

# The median of the numbers on stdin, one a line (the mean of the middle two, truncated, for an even
# count); "-" when there are none.
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

# The largest number in column $1 of stdin, 0 when there is none.
column_max() { awk -v c="$1" 'BEGIN{m=0} {if ($c+0>m) m=$c+0} END {print m}'; }

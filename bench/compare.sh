#!/usr/bin/env bash
# Side-by-side: walship against pgBackRest (Debian 2.45: sync, and archive-async with process-max=2,
# both zst level 3) and barman-cloud (Debian 3.4: gzip), on the SAME real pgbench WAL segments and
# the SAME local S3 server (s3rver over HTTPS on loopback), in one run. Prints a Markdown table.
#
#   bash bench/compare.sh [segments] [sample]
#
# segments: backlog size for the archiver drain and the standby catch-up (default 200);
# sample:   segments timed one call at a time for cold push and fetch (default 20).
# COMPARE_BARMAN_SEGMENTS (default 20) caps barman-cloud's drain and catch-up: at over a second
# per segment a full backlog would take most of the run; its rate is reported per segment.
#
# Needs packaging/install-deps.sh, bench/install-peers.sh and a published artifacts/bin/walship.
# Run as root (PostgreSQL runs as the postgres user). At 200 segments it took 36 minutes on a 2-core
# machine busy with other work (load 35-54); KEEP_WORK=1 keeps the scratch directory.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N="${1:-200}"
SAMPLE="${2:-20}"
BARMAN_N="${COMPARE_BARMAN_SEGMENTS:-20}"
[ "$SAMPLE" -le "$N" ] || SAMPLE="$N"
[ "$BARMAN_N" -le "$N" ] || BARMAN_N="$N"
BIN="${WALSHIP_BIN:-$ROOT/artifacts/bin/walship}"  # WALSHIP_BIN: a copy, so a rebuild mid-run cannot change it
PORT_PG=54391
PORT_STANDBY=54392
PORT_S3=45991
for tool in "$BIN" "$S3RVER" "$PG_BIN/postgres"; do [ -e "$tool" ] || { echo "missing $tool (run packaging/install-deps.sh and publish walship)" >&2; exit 2; }; done
for tool in pgbackrest barman-cloud-wal-archive barman-cloud-wal-restore openssl /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run bench/install-peers.sh" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "run as root: PostgreSQL and the archivers run as the postgres user" >&2; exit 2; }

bench_work_dir /tmp/walship-compare.XXXXXX
BENCH_CLUSTERS+=("$WORK/standby")  # made by copying the base backup; init_cluster adds the source
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
psql_src() { as_pg psql -X -h "$WORK" -p "$PORT_PG" -U postgres -qAt -c "$1" postgres; }
psql_standby() { as_pg psql -X -h "$WORK" -p "$PORT_STANDBY" -U postgres -qAt -c "$1" postgres; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# --- S3 over HTTPS with a throw-away self-signed certificate ------------------------------------
log "starting s3rver (HTTPS) on 127.0.0.1:$PORT_S3"
start_s3rver --tls "$WORK/s3" "$PORT_S3" --silent --no-vhost-buckets
ENDPOINT="$S3RVER_ENDPOINT"
for bucket in walship pgbackrest barman; do curl -sfk -X PUT "$ENDPOINT/$bucket" >/dev/null; done

# --- the three tools' settings --------------------------------------------------------------------
# walship: its defaults (zstd level 1, two compression threads); TLS verified against the cert, which
# push and fetch (static keys, no role) make their whole trust store.
cat > "$WORK/walship.env" <<EOF
export WALSHIP_ENDPOINT=$ENDPOINT WALSHIP_PATH_STYLE=true WALSHIP_CA_FILE=$WORK/s3.crt WALSHIP_REGION=us-east-1
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
EOF
# barman-cloud: boto3 reads the credentials and the CA bundle from the environment.
cat > "$WORK/barman.env" <<EOF
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 AWS_CA_BUNDLE=$WORK/s3.crt
EOF
# pgBackRest: one config per repository path; secrets only in the config file.
pgbr_conf() { # name repo-path pg1-path async(y/n) pg1-port
  cat > "$WORK/pgbr-$1.conf" <<EOF
[global]
repo1-type=s3
repo1-path=/$2
repo1-s3-bucket=pgbackrest
repo1-s3-endpoint=127.0.0.1
repo1-storage-port=$PORT_S3
repo1-s3-region=us-east-1
repo1-s3-key=S3RVER
repo1-s3-key-secret=S3RVER
repo1-s3-uri-style=path
repo1-storage-verify-tls=n
compress-type=zst
compress-level=3
archive-async=$4
process-max=2
spool-path=$WORK/pgbr-spool-$1
lock-path=$WORK/pgbr-lock-$1
log-path=$WORK/pgbr-log
log-level-console=warn
log-level-file=off
start-fast=y

[bench]
pg1-path=$3
pg1-socket-path=$WORK
pg1-port=$5
EOF
  chown postgres: "$WORK/pgbr-$1.conf"
}
mkdir -p "$WORK/pgbr-log" && chown postgres: "$WORK/pgbr-log"
pgbr_conf cold cold "$WORK/src" n "$PORT_PG"
pgbr_conf sync sync "$WORK/src" n "$PORT_PG"
pgbr_conf async async "$WORK/src" y "$PORT_PG"

# Prefetch and push-ahead come with the `ahead` feature; without it those cases are skipped.
HAVE_AHEAD=0
if "$BIN" help 2>/dev/null | grep -q -- '--prefetch N' && "$BIN" help 2>/dev/null | grep -q -- '--push-ahead N'; then HAVE_AHEAD=1; fi

# --- real WAL from pgbench --------------------------------------------------------------------------
log "making $N segments of pgbench WAL"
init_cluster "$WORK/src" "$PORT_PG"
cat >> "$WORK/src/postgresql.conf" <<CONF
synchronous_commit = off
full_page_writes = on
archive_mode = on
archive_command = ''
wal_keep_size = '64GB'
# Frequent checkpoints: more full-page images per transaction, so the backlog fills in minutes
# rather than tens of minutes on 2 cores. WAL right after a checkpoint looks like this anyway.
max_wal_size = '64MB'
min_wal_size = '32MB'
checkpoint_timeout = '30s'
log_min_messages = error
CONF
as_pg "$PG_BIN/pg_ctl" -D "$WORK/src" -l "$WORK/src.log" -w start >/dev/null
as_pg "$PG_BIN/pgbench" -h "$WORK" -p "$PORT_PG" -U postgres -i -s 10 -q postgres >/dev/null 2>&1
for name in cold sync async; do as_pg pgbackrest --config="$WORK/pgbr-$name.conf" --stanza=bench stanza-create >/dev/null; done
as_pg "$PG_BIN/pg_ctl" -D "$WORK/src" -m fast -w stop >/dev/null
# A cold copy of the cleanly stopped cluster is the standbys' base backup.
cp -a "$WORK/src" "$WORK/base"
rm -f "$WORK/base/pg_wal/archive_status/"*
FIRST=$(as_pg "$PG_BIN/pg_controldata" "$WORK/base" | awk -F': *' '/REDO WAL file/ {print $2}')
as_pg "$PG_BIN/pg_ctl" -D "$WORK/src" -l "$WORK/src.log" -w start >/dev/null
while :; do
  as_pg "$PG_BIN/pgbench" -h "$WORK" -p "$PORT_PG" -U postgres -T 10 -c 8 -j 2 postgres >/dev/null 2>&1
  cur=$(psql_src "select pg_walfile_name(pg_current_wal_lsn())")
  have=$(ls "$WORK/src/pg_wal" | awk -v f="$FIRST" -v c="$cur" 'length($0) == 24 && $0 >= f && $0 < c' | wc -l)
  log "  $have segments"
  [ "$have" -ge "$N" ] && break
done
as_pg "$PG_BIN/pg_ctl" -D "$WORK/src" -m fast -w stop >/dev/null
ls "$WORK/src/pg_wal" | awk -v f="$FIRST" 'length($0) == 24 && $0 >= f' | sort | head -n "$N" > "$WORK/segments"
LAST=$(tail -n 1 "$WORK/segments")
BARMAN_LAST=$(sed -n "${BARMAN_N}p" "$WORK/segments")
head -n "$SAMPLE" "$WORK/segments" > "$WORK/sample"
# The LSN where a segment starts (16 MiB segments): the standby has caught up once it replays past it.
seg_lsn() { printf '%X/%X' "$((16#${1:8:8}))" "$(( 16#${1:16:8} << 24 ))"; }

# Marks exactly the first $1 listed segments .ready and every other WAL file .done, as the archiver
# left it: the same backlog for each tool.
reset_backlog() {
  local status="$WORK/src/pg_wal/archive_status" count="$1"
  for f in "$status"/*.ready; do [ -e "$f" ] && mv "$f" "${f%.ready}.done"; done
  head -n "$count" "$WORK/segments" | while read -r seg; do
    rm -f "$status/$seg.done"; : > "$status/$seg.ready"
  done
  chown -R postgres: "$status"
}

# --- results ----------------------------------------------------------------------------------------
declare -A RESULT
record() { RESULT["$1"]="$2"; }

# Times each call of "$@" (with SEG replaced per sample segment) under /usr/bin/time: median ms and peak
# RSS MiB into RESULT[$1.ms] / RESULT[$1.rss]. Exit status must be 0.
time_calls() {
  local key="$1" envfile="$2"; shift 2
  local times="$WORK/times.$key" rss="$WORK/rss.$key"
  : > "$times"; : > "$rss"
  while read -r seg; do
    local args=() a
    for a in "$@"; do args+=("${a//SEG/$seg}"); done
    if ! wall_time as_pg bash -c 'source "$1"; shift; exec /usr/bin/time -f "%M %U %S" -o "$0" "$@"' "$rss.one" "$envfile" "${args[@]}" >>"$WORK/calls.log" 2>&1; then
      echo "failed: ${args[*]} (see below)" >&2; tail -n 5 "$WORK/calls.log" >&2; exit 1
    fi
    echo "$WALL_MS" >> "$times"
    tail -n 1 "$rss.one" >> "$rss"
  done < "${SAMPLE_LIST:-$WORK/sample}"
  record "$key.ms" "$(median < "$times")"
  record "$key.rss" "$(( $(column_max 1 < "$rss") / 1024 ))"
  # CPU time (user + system, 10 ms resolution) does not grow when other work shares the cores.
  record "$key.cpu" "$(awk '{printf "%d\n", ($2 + $3) * 1000}' "$rss" | median)"
}

# Fetch: each sample segment to a scratch pg_wal/RECOVERYXLOG, compared with the original.
time_fetches() {
  local key="$1" envfile="$2"; shift 2
  local dest="$WORK/fetch-$key/pg_wal"
  # A standby's data directory has pg_control, which names the cluster the fetched WAL must match.
  mkdir -p "$dest" "$WORK/fetch-$key/global" && cp "$WORK/base/global/pg_control" "$WORK/fetch-$key/global/"
  chown -R postgres: "$WORK/fetch-$key"
  time_calls "$key" "$envfile" "$@"
}
check_fetched() { # fetch scratch dir: the last fetched segment must equal the original
  cmp -s "$WORK/fetch-$1/pg_wal/RECOVERYXLOG" "$WORK/src/pg_wal/$(tail -n 1 "$WORK/sample")" || { echo "$1: fetched bytes differ" >&2; exit 1; }
}
: > "$WORK/empty.env"
SRCWAL="$WORK/src/pg_wal"

log "cold push, $SAMPLE segments one call each"
time_calls walship.push "$WORK/walship.env" "$BIN" push --repo s3://walship/cold "$SRCWAL/SEG" SEG
time_calls walship3.push "$WORK/walship.env" "$BIN" push --repo s3://walship/cold3 --compression-level 3 "$SRCWAL/SEG" SEG
time_calls pgbr.push "$WORK/empty.env" pgbackrest --config="$WORK/pgbr-cold.conf" --stanza=bench archive-push "$SRCWAL/SEG"
time_calls barman.push "$WORK/barman.env" barman-cloud-wal-archive -z --endpoint-url "$ENDPOINT" s3://barman/cold bench "$SRCWAL/SEG"

log "cold fetch, $SAMPLE segments one call each"
time_fetches walship.fetch "$WORK/walship.env" "$BIN" fetch --repo s3://walship/cold SEG "$WORK/fetch-walship.fetch/pg_wal/RECOVERYXLOG"
check_fetched walship.fetch
time_fetches pgbr.fetch "$WORK/empty.env" pgbackrest --config="$WORK/pgbr-cold.conf" --stanza=bench archive-get SEG "$WORK/fetch-pgbr.fetch/pg_wal/RECOVERYXLOG"
check_fetched pgbr.fetch
time_fetches barman.fetch "$WORK/barman.env" barman-cloud-wal-restore --endpoint-url "$ENDPOINT" s3://barman/cold bench SEG "$WORK/fetch-barman.fetch/pg_wal/RECOVERYXLOG"
check_fetched barman.fetch
if [ "$HAVE_AHEAD" = 1 ]; then
  # Served from the spool: the first call fetches its segment and starts the prefetch worker; once the
  # worker has the rest of the sample in the spool (as it has during replay, which gives it time), the
  # other calls are timed.
  mkdir -p "$WORK/spool-fetch" "$WORK/fetch-walship.prefetch/pg_wal" "$WORK/fetch-walship.prefetch/global"
  cp "$WORK/base/global/pg_control" "$WORK/fetch-walship.prefetch/global/"
  chown -R postgres: "$WORK/spool-fetch" "$WORK/fetch-walship.prefetch"
  PREFETCH=(fetch --repo s3://walship/cold --prefetch "$SAMPLE" --spool-dir "$WORK/spool-fetch")
  first=$(head -n 1 "$WORK/sample")
  as_pg bash -c 'source "$1"; shift; exec "$@"' _ "$WORK/walship.env" "$BIN" "${PREFETCH[@]}" "$first" "$WORK/fetch-walship.prefetch/pg_wal/RECOVERYXLOG" >>"$WORK/calls.log" 2>&1
  for _ in $(seq 1 1200); do
    [ "$(find "$WORK/spool-fetch" -path '*/prefetch/*' -name '[0-9A-F]*' ! -name '*.*' | wc -l)" -ge $((SAMPLE - 1)) ] && break
    sleep 0.1
  done
  tail -n +2 "$WORK/sample" > "$WORK/sample-prefetched"
  SAMPLE_LIST="$WORK/sample-prefetched" time_fetches walship.prefetch "$WORK/walship.env" "$BIN" "${PREFETCH[@]}" SEG "$WORK/fetch-walship.prefetch/pg_wal/RECOVERYXLOG"
  check_fetched walship.prefetch
  served=$(grep -c "restored from the prefetch spool" "$WORK/calls.log" || true)
  log "  prefetch: $served of $((SAMPLE - 1)) timed calls served from the spool"
  record walship.prefetch.served "$served/$((SAMPLE - 1))"
else
  log "SKIPPED fetch with prefetch: this walship has no --prefetch (the push-ahead/prefetch feature is not built in)"
fi

# Drain: PostgreSQL's archiver works through the backlog; seconds until no listed segment is .ready.
# The clock starts before pg_ctl start, so each tool pays the same server start-up.
drain() { # key count archive_command
  local key="$1" count="$2" command="$3" t0 t1 left
  reset_backlog "$count"
  printf "archive_command = '%s'\n" "$command" > "$WORK/src/postgresql.auto.conf"
  chown postgres: "$WORK/src/postgresql.auto.conf"
  t0=$(now_ms)
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/src" -l "$WORK/src.log" -w start >/dev/null
  while :; do
    left=$(head -n "$count" "$WORK/segments" | while read -r s; do if [ -e "$WORK/src/pg_wal/archive_status/$s.ready" ]; then echo; fi; done | wc -l)
    [ "$left" -eq 0 ] && break
    if [ $(( $(now_ms) - t0 )) -gt 1800000 ]; then echo "$key: drain did not finish in 30 minutes" >&2; exit 1; fi
    sleep 0.05
  done
  t1=$(now_ms)
  local archived; archived=$(psql_src "select archived_count || ' archived, ' || failed_count || ' failed' from pg_stat_archiver")
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/src" -m immediate -w stop >/dev/null
  record "$key.drain_s" "$(awk -v ms=$((t1 - t0)) 'BEGIN {printf "%.1f", ms / 1000}')"
  record "$key.drain_rate" "$(awk -v ms=$((t1 - t0)) -v n="$count" 'BEGIN {printf "%.2f", n * 1000 / ms}')"
  record "$key.drain_n" "$count"
  log "  $key: $count segments in $((t1 - t0)) ms (pg_stat_archiver: $archived)"
}
WENV=". $WORK/walship.env;"
log "archiver drain of $N segments"
drain walship.drain "$N" "$WENV $BIN push --repo s3://walship/drain %p %f"
drain pgbr-sync.drain "$N" "pgbackrest --config=$WORK/pgbr-sync.conf --stanza=bench archive-push %p"
drain pgbr-async.drain "$N" "pgbackrest --config=$WORK/pgbr-async.conf --stanza=bench archive-push %p"
if [ "$HAVE_AHEAD" = 1 ]; then
  mkdir -p "$WORK/spool-push" && chown postgres: "$WORK/spool-push"
  drain walship-ahead.drain "$N" "$WENV $BIN push --repo s3://walship/drain-ahead --push-ahead 8 --spool-dir $WORK/spool-push %p %f"
else
  log "SKIPPED drain with push-ahead: this walship has no --push-ahead"
fi
drain barman.drain "$BARMAN_N" ". $WORK/barman.env; barman-cloud-wal-archive -z --endpoint-url $ENDPOINT s3://barman/drain bench %p"

# Catch-up: a standby from the base backup replays the archive until it passes the last segment's start.
catch_up() { # key target-segment restore_command
  local key="$1" target; target=$(seg_lsn "$2")
  local count; count=$(grep -n "^$2\$" "$WORK/segments" | cut -d: -f1)
  rm -rf "$WORK/standby"
  cp -a "$WORK/base" "$WORK/standby"
  rm -f "$WORK/standby/postmaster.pid"
  : > "$WORK/standby/standby.signal"
  cat > "$WORK/standby/postgresql.auto.conf" <<CONF
port = $PORT_STANDBY
archive_mode = off
hot_standby = on
restore_command = '$3'
CONF
  chown -R postgres: "$WORK/standby"
  local t0 t1 reached
  t0=$(now_ms)
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/standby" -l "$WORK/standby.log" -w -t 1800 start >/dev/null
  while :; do
    reached=$(psql_standby "select coalesce(pg_last_wal_replay_lsn() >= '$target'::pg_lsn, false)" 2>/dev/null || echo f)
    [ "$reached" = t ] && break
    if [ $(( $(now_ms) - t0 )) -gt 1800000 ]; then echo "$key: standby did not reach $target in 30 minutes" >&2; exit 1; fi
    sleep 0.1
  done
  t1=$(now_ms)
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/standby" -m immediate -w stop >/dev/null
  record "$key.catchup_s" "$(awk -v ms=$((t1 - t0)) 'BEGIN {printf "%.1f", ms / 1000}')"
  record "$key.catchup_rate" "$(awk -v ms=$((t1 - t0)) -v n="$count" 'BEGIN {printf "%.2f", n * 1000 / ms}')"
  record "$key.catchup_n" "$count"
  log "  $key: $count segments replayed in $((t1 - t0)) ms"
}
pgbr_conf get-sync sync "$WORK/standby" n "$PORT_STANDBY"
pgbr_conf get-async async "$WORK/standby" y "$PORT_STANDBY"
log "standby catch-up over $N segments"
catch_up walship.catchup "$LAST" "$WENV $BIN fetch --repo s3://walship/drain %f %p"
catch_up pgbr-sync.catchup "$LAST" "pgbackrest --config=$WORK/pgbr-get-sync.conf --stanza=bench archive-get %f \"%p\""
catch_up pgbr-async.catchup "$LAST" "pgbackrest --config=$WORK/pgbr-get-async.conf --stanza=bench archive-get %f \"%p\""
if [ "$HAVE_AHEAD" = 1 ]; then
  mkdir -p "$WORK/spool-standby" && chown postgres: "$WORK/spool-standby"
  catch_up walship-prefetch.catchup "$LAST" "$WENV $BIN fetch --repo s3://walship/drain --prefetch 8 --spool-dir $WORK/spool-standby %f %p"
else
  log "SKIPPED catch-up with prefetch: this walship has no --prefetch"
fi
catch_up barman.catchup "$BARMAN_LAST" ". $WORK/barman.env; barman-cloud-wal-restore --endpoint-url $ENDPOINT s3://barman/drain bench %f %p"

# Start-up: median wall time of 20 runs of each tool's version command, and with perf (if installed)
# the mean CPU time, which waiting for a busy core does not inflate.
startup() { # key command...
  local key="$1"; shift
  local t0 t1 f="$WORK/startup.$key"; : > "$f"
  for _ in $(seq 1 20); do t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N); echo $(( (t1 - t0) / 100000 )) >> "$f"; done
  record "$key.startup" "$(median < "$f" | awk '{printf "%.1f", $1 / 10}')"
  if command -v perf >/dev/null; then
    record "$key.startup_cpu" "$(perf stat -x, -e task-clock -r 20 "$@" 2>&1 >/dev/null | awk -F, '/task-clock/ {printf "%.1f", $1}')"
  fi
}
startup walship "$BIN" --version
startup pgbr pgbackrest version
startup barman barman-cloud-wal-archive --version

# --- report -----------------------------------------------------------------------------------------
r() { echo "${RESULT[$1]:-skipped}"; }
ratio() { # a b: a/b with two decimals, or "-" when either is missing
  local a="${RESULT[$1]:-}" b="${RESULT[$2]:-}"
  if [ -z "$a" ] || [ -z "$b" ] || [ "$b" = "0" ] || [ "$b" = "-" ]; then echo "-"; else awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2fx", a / b}'; fi
}
bytes_in() { du -sb "$WORK/s3/$1" 2>/dev/null | cut -f1; }
echo
echo "## walship vs pgBackRest $(pgbackrest version | awk '{print $2}') vs barman-cloud $(barman-cloud-wal-archive --version 2>&1 | awk '{print $2}')"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(awk '/MemTotal/ {printf "%d GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), s3rver over HTTPS on loopback; $N segments of pgbench WAL, $SAMPLE timed one call at a time, barman-cloud drain/catch-up over $BARMAN_N."
echo
echo "| case | walship | pgBackRest sync | pgBackRest async pm=2 | barman-cloud | walship vs pgBackRest | walship vs barman-cloud |"
echo "|---|---|---|---|---|---|---|"
echo "| cold push, median ms/segment (pgBackRest: sync zst-3; walship zst-1) | $(r walship.push.ms) | $(r pgbr.push.ms) | | $(r barman.push.ms) | $(ratio walship.push.ms pgbr.push.ms) time | $(ratio walship.push.ms barman.push.ms) time |"
echo "| cold push, walship at zst-3, median ms | $(r walship3.push.ms) | $(r pgbr.push.ms) | | | $(ratio walship3.push.ms pgbr.push.ms) time | |"
echo "| cold push, median CPU ms/segment (user+sys) | $(r walship.push.cpu) | $(r pgbr.push.cpu) | | $(r barman.push.cpu) | $(ratio walship.push.cpu pgbr.push.cpu) CPU | $(ratio walship.push.cpu barman.push.cpu) CPU |"
echo "| cold push, peak RSS MiB | $(r walship.push.rss) | $(r pgbr.push.rss) | | $(r barman.push.rss) | | |"
echo "| cold fetch, median ms/segment | $(r walship.fetch.ms) | $(r pgbr.fetch.ms) | | $(r barman.fetch.ms) | $(ratio walship.fetch.ms pgbr.fetch.ms) time | $(ratio walship.fetch.ms barman.fetch.ms) time |"
echo "| cold fetch, median CPU ms/segment (user+sys) | $(r walship.fetch.cpu) | $(r pgbr.fetch.cpu) | | $(r barman.fetch.cpu) | $(ratio walship.fetch.cpu pgbr.fetch.cpu) CPU | $(ratio walship.fetch.cpu barman.fetch.cpu) CPU |"
echo "| fetch served from the prefetch spool, median ms/segment (calls served) | $(r walship.prefetch.ms) ($(r walship.prefetch.served)) | | | | | |"
echo "| cold fetch, peak RSS MiB | $(r walship.fetch.rss) | $(r pgbr.fetch.rss) | | $(r barman.fetch.rss) | | |"
echo "| archiver drain, segments/s | $(r walship.drain.drain_rate) | $(r pgbr-sync.drain.drain_rate) | $(r pgbr-async.drain.drain_rate) | $(r barman.drain.drain_rate) | $(ratio walship.drain.drain_rate pgbr-async.drain.drain_rate) of async rate | $(ratio walship.drain.drain_rate barman.drain.drain_rate) rate |"
echo "| archiver drain, seconds (segments) | $(r walship.drain.drain_s) ($N) | $(r pgbr-sync.drain.drain_s) ($N) | $(r pgbr-async.drain.drain_s) ($N) | $(r barman.drain.drain_s) ($BARMAN_N) | | |"
echo "| archiver drain with push-ahead, segments/s | $(r walship-ahead.drain.drain_rate) | | $(r pgbr-async.drain.drain_rate) | $(r barman.drain.drain_rate) | $(ratio walship-ahead.drain.drain_rate pgbr-async.drain.drain_rate) of async rate | $(ratio walship-ahead.drain.drain_rate barman.drain.drain_rate) rate |"
echo "| standby catch-up, segments/s | $(r walship.catchup.catchup_rate) | $(r pgbr-sync.catchup.catchup_rate) | $(r pgbr-async.catchup.catchup_rate) | $(r barman.catchup.catchup_rate) | $(ratio walship.catchup.catchup_rate pgbr-async.catchup.catchup_rate) of async rate | $(ratio walship.catchup.catchup_rate barman.catchup.catchup_rate) rate |"
echo "| standby catch-up, seconds (segments) | $(r walship.catchup.catchup_s) ($N) | $(r pgbr-sync.catchup.catchup_s) ($N) | $(r pgbr-async.catchup.catchup_s) ($N) | $(r barman.catchup.catchup_s) ($BARMAN_N) | | |"
echo "| standby catch-up with prefetch, segments/s | $(r walship-prefetch.catchup.catchup_rate) | | $(r pgbr-async.catchup.catchup_rate) | | $(ratio walship-prefetch.catchup.catchup_rate pgbr-async.catchup.catchup_rate) of async rate | |"
echo "| start-up (version), median wall ms | $(r walship.startup) | $(r pgbr.startup) | | $(r barman.startup) | | |"
echo "| start-up (version), mean CPU ms (perf) | $(r walship.startup_cpu) | $(r pgbr.startup_cpu) | | $(r barman.startup_cpu) | | |"
echo "| stored bytes, cold sample ($SAMPLE segments) | $(bytes_in walship/cold) | $(bytes_in pgbackrest/cold) | | $(bytes_in barman/cold) | | |"
if [ "$HAVE_AHEAD" != 1 ]; then echo; echo "Push-ahead and prefetch rows say 'skipped': this walship build has no --push-ahead/--prefetch."; fi

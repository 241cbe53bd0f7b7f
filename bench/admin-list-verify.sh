#!/usr/bin/env bash
# Times `walship list` and `walship verify` on large archives, on s3rver (loopback) and on a file://
# repository. The archives are written straight to disk by bench/WalShip.Bench (make-archive), at
# ArchiveLayout's keys, in s3rver's own on-disk format for the S3 runs. List reads no segment body, so its
# archive holds one valid object copied to every key; verify's archive holds a distinct valid object per key.
# Generating them is heavy: with BENCH_DIR set, the archives are written there once and reused by later
# runs with the same sizes (delete the directory to start over); without it, a temporary directory is used.
# Each run prints wall time, walship's CPU time and peak memory, and for S3 the CPU time s3rver spent
# answering and how many ListObjectsV2 requests it served.
# Usage: bash bench/admin-list-verify.sh [list-objects] [verify-objects] [list-segment-size] [verify-segment-size]
#   defaults: 100000 objects each; 16 MiB segments for list; verify's segment size defaults to list's.
#   BENCH_RUNS=list-s3,verify-s3,list-file,verify-file picks the runs (default all four).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LIST_N="${1:-100000}"
VERIFY_N="${2:-100000}"
LIST_SEG="${3:-16777216}"
VERIFY_SEG="${4:-$LIST_SEG}"
RUNS="${BENCH_RUNS:-list-s3,verify-s3,list-file,verify-file}"
BIN="${WALSHIP_BIN:-$ROOT/artifacts/bin/walship}"
if [ -n "${BENCH_DIR:-}" ]; then WORK="$BENCH_DIR"; mkdir -p "$WORK"; else bench_work_dir /tmp/walship-bench-admin-XXXXXX; fi

dotnet build "$ROOT/bench/WalShip.Bench" -c Release -nologo -v q >/dev/null
GEN="dotnet $ROOT/bench/WalShip.Bench/bin/Release/net10.0/WalShip.Bench.dll"
LIST_NAME="list-$LIST_N-$LIST_SEG"
VERIFY_NAME="verify-$VERIFY_N-$VERIFY_SEG"
make_once() { # format, directory, count, segment size, [copies]
  local done="$WORK/done/$1-$(basename "$2")"
  [ -f "$done" ] && return
  echo "writing $2 ($3 objects, $4-byte segments)"
  rm -rf "$2"
  $GEN make-archive "$@"
  mkdir -p "$WORK/done" && touch "$done"
}
make_once s3rver "$WORK/s3/bench-bucket/$LIST_NAME" "$LIST_N" "$LIST_SEG" copies
make_once s3rver "$WORK/s3/bench-bucket/$VERIFY_NAME" "$VERIFY_N" "$VERIFY_SEG"
make_once file "$WORK/file/$LIST_NAME" "$LIST_N" "$LIST_SEG" copies
make_once file "$WORK/file/$VERIFY_NAME" "$VERIFY_N" "$VERIFY_SEG"

# Not --silent: the log counts the ListObjectsV2 requests.
start_s3rver "$WORK/s3" 0 --no-vhost-buckets

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
s3rver_cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$S3RVER_PID/stat"; } # user + system seconds so far
timed() { # run name, label, then walship arguments
  local run="$1" label="$2"; shift 2
  [[ ",$RUNS," == *",$run,"* ]] || return 0
  local server_before server_after requests_before
  server_before=$(s3rver_cpu); requests_before=$(grep -c 'list-type=2' "$WORK/s3rver.log" || true)
  wall_time /usr/bin/time -f '%U %S %M' -o "$WORK/time.txt" "$BIN" "$@" >"$WORK/out.json" 2>"$WORK/err.log" \
    || { echo "$label failed:"; cat "$WORK/err.log"; tail -c 2000 "$WORK/out.json"; exit 1; }
  server_after=$(s3rver_cpu)
  read -r user sys rss <"$WORK/time.txt"
  local server=""
  [[ "$run" == *-s3 ]] && server="$(printf 's3rver CPU %6.1f s, %d ListObjectsV2' "$(echo "$server_after - $server_before" | bc)" \
    "$(( $(grep -c 'list-type=2' "$WORK/s3rver.log" || true) - requests_before ))")"
  printf '%-20s %7.1f s wall  walship CPU %6.1f s  peak RSS %4d MiB  %7s objects  %s\n' "$label" "$(echo "scale=3; $WALL_MS / 1000" | bc)" \
    "$(echo "$user + $sys" | bc)" "$((rss / 1024))" \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["totals"]["objects"] if "totals" in d else d["checked_objects"])' "$WORK/out.json")" "$server"
}
S3=(--endpoint "$S3RVER_ENDPOINT" --path-style)
timed list-s3 "list   s3 (s3rver)" --repo "s3://bench-bucket/$LIST_NAME" "${S3[@]}" list --json
timed verify-s3 "verify s3 (s3rver)" --repo "s3://bench-bucket/$VERIFY_NAME" "${S3[@]}" verify --json
timed list-file "list   file://" --repo "file://$WORK/file/$LIST_NAME" list --json
timed verify-file "verify file://" --repo "file://$WORK/file/$VERIFY_NAME" verify --json

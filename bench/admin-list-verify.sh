#!/usr/bin/env bash
# Times `walship list` and `walship verify` on a 100,000-object archive, on s3rver (loopback) and on a
# file:// repository. The archive is written straight to disk by bench/WalShip.Bench (make-archive):
# valid walship objects at ArchiveLayout's keys, in s3rver's own on-disk format for the S3 run.
# Usage: bash bench/admin-list-verify.sh [objects] [segment-size-bytes]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-100000}"
SEG="${2:-1048576}"
BIN="${WALSHIP_BIN:-$ROOT/artifacts/bin/walship}"
WORK="$(mktemp -d /tmp/walship-bench-admin-XXXXXX)"
S3RVER_PID=""
cleanup() { [ -n "$S3RVER_PID" ] && kill "$S3RVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

dotnet build "$ROOT/bench/WalShip.Bench" -c Release -nologo -v q >/dev/null
GEN="dotnet $ROOT/bench/WalShip.Bench/bin/Release/net10.0/WalShip.Bench.dll"

node --openssl-legacy-provider "$ROOT/tests/s3rver/node_modules/s3rver/bin/s3rver.js" \
  --directory "$WORK/s3" --address 127.0.0.1 --port 0 --no-vhost-buckets >"$WORK/s3rver.log" 2>&1 &
S3RVER_PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/s3rver.log" && break; sleep 0.1; done
PORT="$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$WORK/s3rver.log" | head -1)"
curl -sf -X PUT "http://127.0.0.1:$PORT/bench-bucket" >/dev/null

echo "writing $N objects ($SEG-byte segments) for s3rver and for file://"
$GEN make-archive s3rver "$WORK/s3/bench-bucket/prod" "$N" "$SEG"
$GEN make-archive file "$WORK/file" "$N" "$SEG"

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
timed() { # label, then walship arguments
  local label="$1"; shift
  local start end
  start=$(date +%s.%N)
  "$BIN" "$@" >"$WORK/out.json" 2>"$WORK/err.log" || { echo "$label failed:"; cat "$WORK/err.log"; exit 1; }
  end=$(date +%s.%N)
  printf '%-28s %8.1f s   %s\n' "$label" "$(echo "$end - $start" | bc)" \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("totals",{}).get("objects", d.get("checked_objects")), "objects")' "$WORK/out.json")"
}
S3=(--repo s3://bench-bucket/prod --endpoint "http://127.0.0.1:$PORT" --path-style)
FILE=(--repo "file://$WORK/file")
timed "list   s3 (s3rver)" "${S3[@]}" list --json
timed "verify s3 (s3rver)" "${S3[@]}" verify --json
timed "list   file://" "${FILE[@]}" list --json
timed "verify file://" "${FILE[@]}" verify --json

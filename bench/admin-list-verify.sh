#!/usr/bin/env bash
# Times `walship list` on a LIST_N-object archive (default 100,000) and `walship verify` on a
# VERIFY_N-object one (default 10,000), on s3rver (loopback) and on a file:// repository.
# The archives are written straight to disk by bench/WalShip.Bench (make-archive), at ArchiveLayout's
# keys, in s3rver's own on-disk format for the S3 runs. List reads no segment body, so its archive
# holds one valid object copied to every key; verify's archive holds a distinct valid object per key.
# Usage: bash bench/admin-list-verify.sh [list-objects] [verify-objects] [segment-size-bytes]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIST_N="${1:-100000}"
VERIFY_N="${2:-10000}"
SEG="${3:-16777216}"
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

echo "writing archives: list $LIST_N objects, verify $VERIFY_N objects, $SEG-byte segments"
$GEN make-archive s3rver "$WORK/s3/bench-bucket/list" "$LIST_N" "$SEG" copies
$GEN make-archive s3rver "$WORK/s3/bench-bucket/verify" "$VERIFY_N" "$SEG"
$GEN make-archive file "$WORK/file-list" "$LIST_N" "$SEG" copies
$GEN make-archive file "$WORK/file-verify" "$VERIFY_N" "$SEG"

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
timed() { # label, then walship arguments
  local label="$1"; shift
  local start end
  start=$(date +%s.%N)
  "$BIN" "$@" >"$WORK/out.json" 2>"$WORK/err.log" || { echo "$label failed:"; cat "$WORK/err.log"; tail -c 2000 "$WORK/out.json"; exit 1; }
  end=$(date +%s.%N)
  printf '%-22s %8.1f s   %s objects\n' "$label" "$(echo "$end - $start" | bc)" \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["totals"]["objects"] if "totals" in d else d["checked_objects"])' "$WORK/out.json")"
}
S3=(--endpoint "http://127.0.0.1:$PORT" --path-style)
timed "list   s3 (s3rver)" --repo s3://bench-bucket/list "${S3[@]}" list --json
timed "verify s3 (s3rver)" --repo s3://bench-bucket/verify "${S3[@]}" verify --json
timed "list   file://" --repo "file://$WORK/file-list" list --json
timed "verify file://" --repo "file://$WORK/file-verify" verify --json

#!/usr/bin/env bash
# Builds the native walship binary and runs the whole test suite (unit tests, and integration tests
# against real PostgreSQL 15 clusters and a local S3 server). Needs what packaging/install-deps.sh
# installs. Ends with one line 'N passed, N failed, N skipped' and exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

RESULTS="$ROOT/artifacts/test-results"
rm -rf "$RESULTS"
mkdir -p "$RESULTS"

echo "[tests] restoring NuGet packages"
dotnet restore WalShip.sln --verbosity quiet

echo "[tests] publishing the native binary (NativeAOT; warnings are errors)"
dotnet publish src/WalShip -c Release -r linux-x64 -o artifacts/bin --no-restore --verbosity quiet -nologo
ls -l artifacts/bin/walship

echo "[tests] building the benchmarks (not run here; see bench/README.md)"
dotnet build bench/WalShip.Bench -c Release --no-restore --verbosity quiet -nologo

echo "[tests] running the test suite"
set +e
dotnet test tests/WalShip.Tests --no-restore --verbosity quiet -nologo \
  --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" --results-directory "$RESULTS"
status=$?
set -e

trx="$RESULTS/results.trx"
if [ ! -f "$trx" ]; then
  echo "[tests] no test results were written (dotnet test exit $status)"
  echo "0 passed, 1 failed"
  exit 1
fi
counters=$(grep -o '<Counters [^>]*>' "$trx")
count() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
total=$(count total); executed=$(count executed); passed=$(count passed)
failed=$(( $(count failed) + $(count error) + $(count timeout) + $(count aborted) ))
skipped=$(( total - executed ))
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi

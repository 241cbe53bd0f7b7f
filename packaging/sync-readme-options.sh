#!/usr/bin/env bash
# Rewrites the options reference in README.md from 'walship help' (the published binary's), so the
# README and --help cannot drift. tests/WalShip.Tests/Docs/ReadmeTests.cs fails until this is run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${WALSHIP_BIN:-$ROOT/artifacts/bin/walship}"
options="$("$BIN" help | sed -n '/^Options (flag/,$p')"
python3 - "$ROOT/README.md" "$options" <<'PY'
import sys
path, options = sys.argv[1], sys.argv[2]
text = open(path).read()
begin, end = "<!-- options:begin -->", "<!-- options:end -->"
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(path, "w").write(f"{head}{begin}\n```text\n{options}\n```\n{end}{tail}")
PY
echo "README.md options reference updated from $BIN"

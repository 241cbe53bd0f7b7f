#!/usr/bin/env bash
# Installs everything walship's build and tests need on Debian 12:
#   - PostgreSQL 15 server + client tools (initdb, pg_ctl, postgres, pgbench: postgresql-15;
#     psql, pg_basebackup: postgresql-client-15), used by the integration tests
#   - clang + zlib1g-dev, the NativeAOT link prerequisites
#   - Node.js + npm (only if missing) and the pinned s3rver in tests/s3rver
# Idempotent; skips apt-get entirely when everything is already installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '[install-deps] %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

APT_PACKAGES=(postgresql-15 postgresql-client-15 clang zlib1g-dev)

# Node.js: keep whatever node/npm is already on PATH (e.g. a NodeSource build, whose
# nodejs package bundles npm and conflicts with Debian's npm package).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  APT_PACKAGES+=(nodejs npm)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  log "apt: all present (${APT_PACKAGES[*]})"
else
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PG_BIN=/usr/lib/postgresql/15/bin
for bin in initdb pg_ctl postgres psql pgbench pg_basebackup; do
  if [ ! -x "$PG_BIN/$bin" ]; then
    log "ERROR: $PG_BIN/$bin not found after install" >&2
    exit 1
  fi
done
log "postgres: $("$PG_BIN/postgres" --version)"

if ! command -v clang >/dev/null 2>&1; then
  log "ERROR: clang not on PATH after install" >&2
  exit 1
fi
log "clang: $(clang --version | head -n1)"
log "node: $(node --version), npm $(npm --version)"

S3RVER_DIR="$ROOT/tests/s3rver"
# npm ci wipes node_modules; skip it when the installed tree already matches the lock file.
if [ -f "$S3RVER_DIR/node_modules/.package-lock.json" ] \
   && [ -f "$S3RVER_DIR/node_modules/s3rver/package.json" ] \
   && [ "$S3RVER_DIR/node_modules/.package-lock.json" -nt "$S3RVER_DIR/package-lock.json" ]; then
  log "s3rver: node_modules up to date"
else
  log "s3rver: npm ci"
  (cd "$S3RVER_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
log "s3rver: $(node -p "require('$S3RVER_DIR/node_modules/s3rver/package.json').version")"
log "done"

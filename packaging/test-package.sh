#!/usr/bin/env bash
# CI check of the .deb built by build-packages.sh: installs it with dpkg -i, checks what it put where,
# runs the installed /usr/bin/walship (--version, then a PostgreSQL 15 primary archiving through it to a
# file:// repository and a fetch of what it archived), and removes it with dpkg -r and -P, leaving
# nothing behind. Needs root and dpkg; refuses to touch a walship installed by anything else.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEB="${1:-$(ls "$ROOT"/artifacts/package/walship_*_amd64.deb | head -n1)}"
PG_BIN=/usr/lib/postgresql/15/bin
log() { printf '[package-test] %s\n' "$*"; }
fail() { printf '[package-test] FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (dpkg -i)"
command -v dpkg >/dev/null || fail "dpkg not found"
[ -f "$DEB" ] || fail "no .deb at $DEB (run packaging/build-packages.sh first)"
if dpkg-query -W -f='${Status}' walship 2>/dev/null | grep -q 'install ok installed'; then
  fail "a walship package is already installed; not touching it"
fi
[ ! -e /usr/bin/walship ] || fail "/usr/bin/walship exists outside any package; not touching it"

WORK="$(mktemp -d /tmp/walship-package-test.XXXXXX)"
cleanup() {
  if [ -f "$WORK/primary/postmaster.pid" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/primary" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if dpkg-query -W -f='${Status}' walship 2>/dev/null | grep -q installed; then dpkg -P walship >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

log "dpkg -i $(basename "$DEB")"
dpkg -i "$DEB" >/dev/null
dpkg -L walship | grep -qx /usr/bin/walship || fail "package lacks /usr/bin/walship"
for f in /usr/share/man/man1/walship.1.gz /usr/share/bash-completion/completions/walship /etc/walship/walship.conf; do
  [ -f "$f" ] || fail "package did not install $f"
done
[ "$(stat -c %a /etc/walship/walship.conf)" = 640 ] || fail "/etc/walship/walship.conf is not mode 0640"
if getent group postgres >/dev/null; then
  [ "$(stat -c %U:%G /etc/walship/walship.conf)" = root:postgres ] || fail "/etc/walship/walship.conf is not root:postgres"
fi
dpkg-query -W -f='${Conffiles}' walship | grep -q /etc/walship/walship.conf || fail "walship.conf is not a conffile"
zcat /usr/share/man/man1/walship.1.gz | grep -q '^\.TH WALSHIP 1' || fail "man page has no .TH header"
bash -c 'source /usr/share/bash-completion/completions/walship 2>/dev/null; complete -p walship' >/dev/null || fail "bash completion does not load"

version="$(/usr/bin/walship --version)"
log "installed: $version"
[[ "$version" =~ ^walship\ [0-9]+\.[0-9]+\.[0-9]+\ \(commit\ [0-9a-f]{12},\ built\ [0-9T:-]+Z\)$ ]] || fail "unexpected --version line: $version"

log "push and fetch with the installed binary"
chown postgres: "$WORK"
runuser -u postgres -- mkdir "$WORK/repo" "$WORK/scratch" "$WORK/scratch/pg_wal"
runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/primary" -U postgres --auth=trust --no-sync >/dev/null
cat >> "$WORK/primary/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$WORK'
archive_mode = on
archive_command = '/usr/bin/walship --repo file://$WORK/repo push %p %f'
CONF
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/primary" -l "$WORK/primary.log" -w start >/dev/null
psql() { runuser -u postgres -- "$PG_BIN/psql" -X -A -t -q -h "$WORK" -U postgres -d postgres -c "$1"; }
psql "CREATE TABLE t AS SELECT generate_series(1, 1000) AS i" >/dev/null
segment="$(psql "SELECT pg_walfile_name(pg_switch_wal())")"
for _ in $(seq 1 300); do
  [ "$(psql "SELECT coalesce(last_archived_wal, '') >= '$segment' FROM pg_stat_archiver")" = t ] && break
  sleep 0.2
done
[ "$(psql "SELECT coalesce(last_archived_wal, '') >= '$segment' FROM pg_stat_archiver")" = t ] \
  || fail "the primary did not archive $segment through /usr/bin/walship; log: $(tail -n 20 "$WORK/primary.log")"
touch "$WORK/scratch/standby.signal"
(cd "$WORK/scratch" && runuser -u postgres -- /usr/bin/walship --repo "file://$WORK/repo" fetch "$segment" pg_wal/RECOVERYXLOG) \
  || fail "fetch of $segment with the installed binary failed"
cmp -s "$WORK/scratch/pg_wal/RECOVERYXLOG" "$WORK/primary/pg_wal/$segment" || fail "fetched $segment differs from pg_wal/$segment"
log "archived and fetched $segment through /usr/bin/walship"
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/primary" -m fast -w stop >/dev/null

log "dpkg -r walship"
dpkg -r walship >/dev/null
[ ! -e /usr/bin/walship ] || fail "dpkg -r left /usr/bin/walship"
[ ! -e /usr/share/man/man1/walship.1.gz ] || fail "dpkg -r left the man page"
[ -f /etc/walship/walship.conf ] || fail "dpkg -r removed the conffile (only purge should)"
dpkg -P walship >/dev/null
[ ! -e /etc/walship ] || fail "dpkg -P left /etc/walship"
log "OK: installed, ran, removed and purged cleanly"

#!/usr/bin/env bash
# Builds walship's release artifacts into artifacts/package/ (or $1):
#   walship_VERSION_amd64.deb          /usr/bin/walship, man page, bash completion,
#                                      /etc/walship/walship.conf (a conffile, 0640 root:postgres)
#   walship-VERSION-linux-x64.tar.gz   walship, walship.1, walship.bash, walship.conf, LICENSE, README.md
#   SHA256SUMS                         of both
# The version is WalShip.csproj's <Version>; the commit and build date are embedded for --version
# (SOURCE_DATE_EPOCH, if set, fixes the date, for reproducible builds). Needs the .NET SDK, clang,
# dpkg-deb and python3. WALSHIP_PACKAGE_BIN=path packages an already-built binary instead of publishing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(mkdir -p "${1:-$ROOT/artifacts/package}" && cd "${1:-$ROOT/artifacts/package}" && pwd)"
cd "$ROOT"
log() { printf '[package] %s\n' "$*"; }

VERSION="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' src/WalShip/WalShip.csproj | head -n1)"
COMMIT="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  BUILD_DATE="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
else
  BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
fi
[ -n "$VERSION" ] || { log "ERROR: no <Version> in src/WalShip/WalShip.csproj" >&2; exit 1; }

STAGE="$(mktemp -d /tmp/walship-package.XXXXXX)"
trap 'rm -rf "$STAGE"' EXIT

if [ -n "${WALSHIP_PACKAGE_BIN:-}" ]; then
  log "packaging the binary $WALSHIP_PACKAGE_BIN"
  install -m 0755 "$WALSHIP_PACKAGE_BIN" "$STAGE/walship"
else
  log "publishing walship $VERSION (commit ${COMMIT:0:12}, built $BUILD_DATE)"
  dotnet publish src/WalShip -c Release -r linux-x64 -o "$STAGE/publish" --verbosity quiet -nologo \
    -p:WalshipCommit="$COMMIT" -p:WalshipBuildDate="$BUILD_DATE"
  install -m 0755 "$STAGE/publish/walship" "$STAGE/walship"
fi
BIN="$STAGE/walship"
"$BIN" --version

log "generating the man page and bash completion from walship help"
python3 packaging/gen-manpage.py "$BIN" > "$STAGE/walship.1"
python3 packaging/gen-completion.py "$BIN" > "$STAGE/walship.bash"

# The .deb
DEB_ROOT="$STAGE/deb"
install -d "$DEB_ROOT/DEBIAN" "$DEB_ROOT/usr/bin" "$DEB_ROOT/usr/share/man/man1" "$DEB_ROOT/etc/walship" \
  "$DEB_ROOT/usr/share/bash-completion/completions" "$DEB_ROOT/usr/share/doc/walship"
install -m 0755 "$BIN" "$DEB_ROOT/usr/bin/walship"
gzip -9n < "$STAGE/walship.1" > "$DEB_ROOT/usr/share/man/man1/walship.1.gz"
install -m 0644 "$STAGE/walship.bash" "$DEB_ROOT/usr/share/bash-completion/completions/walship"
install -m 0640 packaging/walship.conf "$DEB_ROOT/etc/walship/walship.conf"
install -m 0644 LICENSE "$DEB_ROOT/usr/share/doc/walship/copyright"
install -m 0644 README.md "$DEB_ROOT/usr/share/doc/walship/README.md"
chmod 0644 "$DEB_ROOT/usr/share/man/man1/walship.1.gz"
echo "/etc/walship/walship.conf" > "$DEB_ROOT/DEBIAN/conffiles"
INSTALLED_KB="$(du -sk --exclude=DEBIAN "$DEB_ROOT" | cut -f1)"
cat > "$DEB_ROOT/DEBIAN/control" <<CONTROL
Package: walship
Version: $VERSION
Architecture: amd64
Maintainer: walship maintainers <walship@localhost>
Depends: libc6 (>= 2.28)
Suggests: postgresql
Installed-Size: $INSTALLED_KB
Section: database
Priority: optional
Homepage: https://github.com/walship/walship
Description: ship PostgreSQL WAL to S3 (or a directory) and back
 walship is PostgreSQL's archive_command (walship push %p %f) and
 restore_command (walship fetch %f %p): one native binary that stores each WAL
 file compressed, checksummed and verified, in S3 or a file:// repository,
 and restores it for standbys and point-in-time recovery.
CONTROL
# The config may hold credentials: readable by the postgres group only, once that group exists.
cat > "$DEB_ROOT/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ] && getent group postgres >/dev/null 2>&1; then
  chown root:postgres /etc/walship/walship.conf
  chmod 0640 /etc/walship/walship.conf
fi
exit 0
POSTINST
chmod 0755 "$DEB_ROOT/DEBIAN/postinst"
DEB="$OUT/walship_${VERSION}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$DEB_ROOT" "$DEB" >/dev/null
log "built $DEB"

# The tarball
TAR_DIR="walship-$VERSION-linux-x64"
install -d "$STAGE/$TAR_DIR"
install -m 0755 "$BIN" "$STAGE/$TAR_DIR/walship"
install -m 0644 "$STAGE/walship.1" "$STAGE/walship.bash" LICENSE README.md "$STAGE/$TAR_DIR/"
install -m 0640 packaging/walship.conf "$STAGE/$TAR_DIR/walship.conf"
TARBALL="$OUT/$TAR_DIR.tar.gz"
tar -C "$STAGE" --owner=0 --group=0 --numeric-owner --sort=name \
  ${SOURCE_DATE_EPOCH:+--mtime=@$SOURCE_DATE_EPOCH} -czf "$TARBALL" "$TAR_DIR"
log "built $TARBALL"

(cd "$OUT" && sha256sum "$(basename "$DEB")" "$(basename "$TARBALL")" > SHA256SUMS)
log "wrote $OUT/SHA256SUMS"

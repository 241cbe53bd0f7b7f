#!/usr/bin/env bash
# Installs the tools bench/compare.sh measures walship against: Debian's pgBackRest and barman-cloud,
# plus openssl (a throw-away TLS certificate for the S3 server: pgBackRest talks only HTTPS to S3).
# Not part of CI's install: only the side-by-side benchmark needs them. Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends pgbackrest barman-cli-cloud openssl time >/dev/null
pgbackrest version
barman-cloud-wal-archive --version

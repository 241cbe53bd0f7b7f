#!/bin/sh
# Entrypoint of the walship PostgreSQL image: sets archive_command and restore_command from the
# environment, then runs the official image's entrypoint. The server inherits WALSHIP_* and AWS_*,
# so walship finds its repository and credentials there.
#   WALSHIP_REPO           repository URL (s3://bucket/prefix or file:///path); enables archiving
#   WALSHIP_ARCHIVE=off    keep archiving off even with WALSHIP_REPO set
#   WALSHIP_RESTORE=on     also set restore_command (a standby, with standby.signal, or a PITR)
set -e
if [ "${1#-}" != "$1" ]; then
  set -- postgres "$@"
fi
if [ "$1" = postgres ] && [ -n "${WALSHIP_REPO:-}" ]; then
  if [ "${WALSHIP_ARCHIVE:-on}" = on ]; then
    set -- "$@" -c archive_mode=on -c "archive_command=walship push %p %f"
  fi
  if [ "${WALSHIP_RESTORE:-off}" = on ]; then
    set -- "$@" -c "restore_command=walship fetch %f %p"
  fi
fi
exec docker-entrypoint.sh "$@"

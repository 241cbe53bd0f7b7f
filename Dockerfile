# PostgreSQL 15 with walship in /usr/bin.
#   docker build --build-arg WALSHIP_COMMIT=$(git rev-parse HEAD) -t walship-postgres .
#   docker run -e POSTGRES_PASSWORD=... -e WALSHIP_REPO=s3://bucket/prefix -e AWS_REGION=... walship-postgres
# Stage 1 builds the NativeAOT binary with the .NET SDK; stage 2 is the official PostgreSQL image.
FROM mcr.microsoft.com/dotnet/sdk:10.0-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY global.json Directory.Build.props ./
COPY src/ src/
ARG WALSHIP_COMMIT=unknown
ARG WALSHIP_BUILD_DATE=unknown
RUN dotnet publish src/WalShip -c Release -r linux-x64 -o /out \
    -p:WalshipCommit="$WALSHIP_COMMIT" -p:WalshipBuildDate="$WALSHIP_BUILD_DATE"

FROM postgres:15-bookworm
COPY --from=build /out/walship /usr/bin/walship
COPY packaging/docker-entrypoint-walship.sh /usr/local/bin/docker-entrypoint-walship.sh
RUN walship --version
# archive_command and restore_command come from the environment (see the script):
#   WALSHIP_REPO (and AWS_* for S3) points walship at the repository; archiving is then on;
#   WALSHIP_RESTORE=on also sets restore_command, for a standby or a point-in-time recovery.
ENTRYPOINT ["docker-entrypoint-walship.sh"]
CMD ["postgres"]

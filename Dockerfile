# PostgreSQL 15 with walship in /usr/bin. Build: docker build -t walship-postgres .
# Stage 1 builds the NativeAOT binary with the .NET SDK; stage 2 is the official PostgreSQL image.
FROM mcr.microsoft.com/dotnet/sdk:10.0-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY global.json Directory.Build.props ./
COPY src/ src/
RUN dotnet publish src/WalShip -c Release -r linux-x64 -o /out

FROM postgres:15-bookworm
COPY --from=build /out/walship /usr/bin/walship
# Point walship at a repository with WALSHIP_REPO (and AWS_* for S3), then in postgresql.conf:
#   archive_mode = on
#   archive_command = 'walship push %p %f'
#   restore_command = 'walship fetch %f %p'
RUN walship --version

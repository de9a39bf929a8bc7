# syntax=docker/dockerfile:1
#
# One image for every faasmeter process: the subcommand is the container's argument
# (`docker run faasmeter meter`, `args: [proxy]` in Kubernetes). Node 24 runs the TypeScript
# sources directly (type stripping), so there is no build step, only production dependencies.
#
#   docker build -t faasmeter:dev .
#   docker run --rm faasmeter:dev --help
#
# NODE_VERSION follows the `node` devDependency in package.json, the Node every npm script and
# test runs on; test/unit/compose-image.test.ts fails when the two drift apart.
ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# --omit=dev: the image's base already is Node 24, so the `node` devDependency (a second Node
# binary) and the test tooling stay out. --ignore-scripts: no runtime dependency needs an install
# script, and none should run with network access at build time.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# FAASMETER_OPS_HOST: every process's /metrics /healthz /readyz must be reachable from the kubelet
# and Prometheus, not only from inside the container (the meter's own default is loopback).
# FAASMETER_SPOOL_DIR: collectors spool to disk while Kafka is away; mount a volume there (the
# Helm chart keeps the root file system read-only).
ENV NODE_ENV=production \
  FAASMETER_OPS_HOST=0.0.0.0 \
  FAASMETER_SPOOL_DIR=/var/lib/faasmeter/spool
RUN groupadd --system --gid 10001 faasmeter \
  && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin faasmeter \
  && mkdir -p /var/lib/faasmeter/spool /etc/faasmeter \
  && chown -R 10001:10001 /var/lib/faasmeter
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# Runtime sources only: no tests, benches, dashboards, deploy files or .stack. The list is what
# cli/faasmeter.ts reaches through its imports; test/unit/compose-image.test.ts checks that.
COPY package.json ./
COPY cli ./cli
COPY common ./common
COPY contract ./contract
COPY kafka ./kafka
COPY clickhouse ./clickhouse
COPY collector ./collector
COPY meter ./meter
COPY api ./api
# Sources stay root-owned and read-only for the process; it runs as an unprivileged user whose
# numeric id lets Kubernetes enforce runAsNonRoot.
USER 10001:10001
ENTRYPOINT ["node", "cli/faasmeter.ts"]
CMD ["--help"]

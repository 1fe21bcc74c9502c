# syntax=docker/dockerfile:1
# The image the Helm chart (charts/herald) runs: `herald operator`, `broker` or `dispatcher`.
#   docker build -t ghcr.io/herald-dev/herald:0.1.0 .
# test/repo/image.test.ts checks this recipe against the chart and the repository without a
# container runtime; docs/install.md says what that does and does not prove.

# The current Node LTS (DESIGN.md §8). Every stage uses the same image, so node_modules is
# installed by the Node that runs it. Pin a digest with --build-arg NODE_IMAGE=node:26-…@sha256:….
ARG NODE_IMAGE=node:26-trixie-slim

# Compiles the TypeScript sources to dist/ with the full (dev) dependency set.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No dependency needs an install script; refusing them keeps the build from running any.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY core ./core
COPY operator ./operator
COPY broker ./broker
COPY dispatcher ./dispatcher
COPY cli ./cli
RUN npm run build

# The production dependencies only: what dist/ imports at run time.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
# Running Herald needs node alone: no package manager in the image.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack
ENV NODE_ENV=production
# The chart's command (image.command: node dist/cli/herald.js) is relative to this directory.
WORKDIR /app
# Owned by root and read-only to the user that runs Herald; nothing is written under /app at
# run time (the chart mounts a read-only root filesystem with an emptyDir on /tmp).
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# dispatcher/version.ts reads Herald's version (the webhook user-agent) from package.json.
COPY package.json ./
# The `node` user of the official Node.js images: the chart's runAsUser and runAsGroup.
USER 1000:1000
# The broker's HTTP and gRPC ports; the operator's and dispatcher's metrics port.
EXPOSE 8080 9620 9090
LABEL org.opencontainers.image.title="herald" \
      org.opencontainers.image.description="CloudEvents-native event gateway for Kubernetes on NATS JetStream" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/herald-dev/herald" \
      org.opencontainers.image.url="https://github.com/herald-dev/herald"
# `docker run IMAGE broker --nats …` runs what the chart runs; no argument prints the usage.
ENTRYPOINT ["node", "/app/dist/cli/herald.js"]
CMD ["--help"]

# syntax=docker/dockerfile:1
# One image for both processes. The API is the default command; a worker is the
# same image with `node apps/worker/dist/main.js` (see docker-compose.yml).

# ---- build: all dependencies, compile TypeScript to dist/ ----
FROM node:20-bookworm-slim AS build
# swagger-ui-dist pulls in @scarf/scarf, whose install script reports installs: not from here.
ENV SCARF_ANALYTICS=false
WORKDIR /app
# Manifests first, so the slow `npm ci` layer is reused until they change.
COPY package.json package-lock.json ./
COPY packages/shared/package.json packages/shared/
COPY packages/client/package.json packages/client/
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
# No --ignore-scripts and no --omit=optional: @anthropic-ai/claude-code's postinstall
# puts the native CLI (~400 MB, from a platform optionalDependency) in place.
RUN --mount=type=cache,target=/root/.npm npm ci
COPY tsconfig.base.json turbo.json ./
COPY packages packages
COPY apps apps
RUN npm run build

# ---- runtime: production dependencies and the compiled output only ----
FROM node:20-bookworm-slim AS runtime
# tini as PID 1 forwards SIGTERM to node and reaps the orphaned grandchildren that
# CLI runs (shell tools) can leave behind; ca-certificates for TLS; bubblewrap and socat
# for the sandbox every CLI run goes into (SANDBOX; its container settings are in
# docker-compose.yml); git and procps are tools jobs' Bash commonly wants.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates bubblewrap socat git procps \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    SCARF_ANALYTICS=false \
    DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/shared/package.json packages/shared/
COPY packages/client/package.json packages/client/
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
# A fresh production install rather than copying the build stage's node_modules:
# it keeps the CLI binary's hard link inside one layer instead of two copies.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev
COPY --from=build /app/packages/shared/dist packages/shared/dist
COPY --from=build /app/packages/client/dist packages/client/dist
COPY --from=build /app/apps/api/dist apps/api/dist
COPY --from=build /app/apps/worker/dist apps/worker/dist
# The code stays root-owned and read-only to the app; only DATA_DIR is writable.
# A named volume mounted on /data starts out with this ownership.
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "apps/api/dist/main.js"]

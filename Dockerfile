# syntax=docker/dockerfile:1

# ── Dependencies: better-sqlite3 is native; when no prebuilt binary fits it compiles, hence the toolchain.
FROM node:20-slim AS deps
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
# `prepare` compiles src/ into dist/ with esbuild (a runtime dependency), so dev dependencies can go.
RUN npm ci --omit=dev && npm cache clean --force

# ── Runtime: no toolchain, non-root, data on a volume.
FROM node:20-slim
# KINBOT_DOCKER=1: the server knows it runs in this image (GET /api/info `isDocker`).
ENV NODE_ENV=production \
    KINBOT_DOCKER=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    KINBOT_DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/dist ./dist
COPY package.json package-lock.json tsconfig.json CHANGELOG.md ./
COPY scripts ./scripts
COPY src ./src
# The data dir holds the generated secrets (.encryption-key, .better-auth-secret), workspaces and,
# without MongoDB, the SQLite files and blobs: it must outlive the container.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# The image never changes after the build, so it runs the compiled server directly.
CMD ["node", "dist/main.js"]

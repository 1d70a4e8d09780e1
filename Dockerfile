# syntax=docker/dockerfile:1
# Multi-stage build: compile with the dev dependencies, run with production dependencies only, as a non-root user.

FROM node:24-slim AS build
WORKDIR /app
# The RP kit is an npm workspace: npm ci needs its package.json; the build compiles it (the demo systems use it).
COPY package.json package-lock.json ./
COPY packages/rp-kit/package.json ./packages/rp-kit/
# npm's `prepare` runs tools/build-if-needed.mjs --install, which skips the build while src/ is not copied yet.
COPY tools ./tools
RUN npm ci --no-audit --no-fund
COPY packages/rp-kit/tsconfig.json ./packages/rp-kit/
COPY packages/rp-kit/src ./packages/rp-kit/src
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
COPY scripts ./scripts
COPY views ./views
RUN node tools/build-if-needed.mjs

FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    UV_THREADPOOL_SIZE=8 \
    CERTS_DIR=/app/certs \
    DATA_DIR=/app/data \
    CLIENTS_FILE=/app/config/clients.json
WORKDIR /app
# A CJK font: the appeal documents' PDF preview (issue 14) draws the glyphs of non-embedded Chinese fonts with it.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-zenhei && rm -rf /var/lib/apt/lists/*
# Production dependencies only; the kit's workspace entry is only its package.json (the provider never imports it).
COPY package.json package-lock.json ./
COPY packages/rp-kit/package.json ./packages/rp-kit/
# `prepare` finds no TypeScript (dev dependency) here and builds nothing; dist/ comes from the build stage.
COPY tools/build-if-needed.mjs ./tools/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY views ./views
COPY public ./public
COPY clients.json ./config/clients.json
RUN mkdir -p /app/certs /app/data && chown -R node:node /app/certs /app/data
USER node
EXPOSE 3000
# Mount the signing keys (certs/), clients.json and set ISSUER and DATABASE_URL; see README "Configuration".
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--enable-source-maps", "dist/src/main.js"]

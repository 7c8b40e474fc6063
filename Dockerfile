# syntax=docker/dockerfile:1
# Node 22 LTS: Node 20 is end-of-life. Native modules (better-sqlite3) build in the
# first stage, so the runtime image needs no compiler.
FROM node:22-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
COPY bench ./bench
COPY examples ./examples
COPY scripts ./scripts
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    UV_THREADPOOL_SIZE=16 \
    MALLOC_ARENA_MAX=1 \
    YIHAO_DATA_DIR=/var/lib/yihao
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY config ./config
RUN mkdir -p /var/lib/yihao && chown node:node /var/lib/yihao
USER node
VOLUME ["/var/lib/yihao"]
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Production refuses to start without ISSUER (https) and explicit secrets; see README.
CMD ["node", "dist/src/main.js"]

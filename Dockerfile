# sse-server as a container: the same single-file binary that `npm run build` makes
# (and that test/cli.test.ts checks), on a minimal base, as a non-root user.

# --- build: npm ci brings Bun (a devDependency); bun build --compile makes one file.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# --- run: glibc and nothing else; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/dist/sse-server /usr/local/bin/sse-server
ENV HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000
USER nonroot
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/sse-server", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/sse-server"]
CMD ["serve"]

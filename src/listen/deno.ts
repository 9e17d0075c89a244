/**
 * Serving on Deno, one of two ways (SSE_DENO_SERVER):
 * - `http1` (default): sse-server's own HTTP/1.1 server (src/http1) on `node:net`
 *   sockets (./net-source.ts): ~15 KB per idle stream.
 * - `serve`: Deno.serve. Writes happen in Rust, so an event costs little CPU, but Deno
 *   allocates a 32 KiB buffer ring for every streamed response body (~59 KB per idle
 *   stream in all). BENCHMARKS.md has both measured.
 */
import { DEFAULT_HTTP1_LIMITS, Http1Server } from "../http1/server.ts";
import type { Listen, Listener } from "../server.ts";
import { listenNet } from "./net-source.ts";

export const listenWithDeno: Listen = (fetch, config, logger) =>
  config.denoServer === "http1" ? listenWithHttp1(fetch, config, logger) : listenWithDenoServe(fetch, config, logger);

const listenWithDenoServe: Listen = (fetch, config) =>
  new Promise((resolve) => {
    let shuttingDown: Promise<void> | undefined;
    const server: Deno.HttpServer = Deno.serve(
      {
        port: config.port,
        hostname: config.host,
        onListen: ({ port }) =>
          resolve({
            port,
            // shutdown() stops accepting and lets open responses finish.
            stopAccepting: () => void (shuttingDown ??= server.shutdown()),
            // The streams have ended by now; wait a little for them to flush, not forever.
            close: () =>
              Promise.race([shuttingDown ??= server.shutdown(), new Promise<void>((r) => setTimeout(r, 1000))]),
          }),
      },
      fetch,
    );
  });

const listenWithHttp1: Listen = async (fetch, config, logger): Promise<Listener> => {
  const { port, source } = await listenNet(config.host, config.port);
  const server = new Http1Server(source, fetch, {
    ...DEFAULT_HTTP1_LIMITS,
    onAppError: (error) => logger.error("request handler failed", { error: String(error) }),
    onAcceptError: (error) => logger.error("accepting a connection failed", { error: String(error) }),
  });
  void server.acceptLoop();
  return { port, stopAccepting: () => server.stopAccepting(), close: () => server.closeAll() };
};

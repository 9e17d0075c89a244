/**
 * Serving on Deno through sse-server's own HTTP/1.1 server (src/http1) on `Deno.listen`.
 * `Deno.serve` allocates a 32 KiB buffer ring for every streamed response body, which
 * made an idle event stream cost ~11x what it costs on Bun (BENCHMARKS.md).
 */
import { DEFAULT_HTTP1_LIMITS, Http1Server } from "../http1/server.ts";
import type { Listen } from "../server.ts";

export const listenWithDeno: Listen = (fetch, config, logger) => {
  const listener = Deno.listen({ hostname: config.host, port: config.port });
  const source = {
    accept: async () => {
      const conn = await listener.accept();
      // Event frames are small and must leave at once, not wait for Nagle's algorithm.
      conn.setNoDelay(true);
      return conn;
    },
    close: () => listener.close(),
  };
  const server = new Http1Server(source, fetch, {
    ...DEFAULT_HTTP1_LIMITS,
    onAppError: (error) => logger.error("request handler failed", { error: String(error) }),
    onAcceptError: (error) => logger.error("accepting a connection failed", { error: String(error) }),
  });
  void server.acceptLoop();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    stopAccepting: () => server.stopAccepting(),
    close: () => server.closeAll(),
  };
};

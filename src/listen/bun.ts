/** Serving through Bun.serve. */
import type { Listen } from "../server.ts";

export const listenWithBun: Listen = (fetch, config) => {
  const server = Bun.serve({
    port: config.port,
    hostname: config.host,
    fetch,
    // Streams idle between heartbeats; Bun would otherwise cut them after 10 s.
    idleTimeout: 0,
  });
  return {
    port: server.port ?? config.port,
    stopAccepting: () => void server.stop(false),
    close: () => server.stop(true),
  };
};

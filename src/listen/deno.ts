/**
 * Serving on Deno: through Deno.serve (hyper underneath), what a Deno user and Deno Deploy
 * run. An event stream is read there as the ReadableStream it is.
 */
import type { Listen } from "../server.ts";

export const listenWithDeno: Listen = (fetch, config) =>
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

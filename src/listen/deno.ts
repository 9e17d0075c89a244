/**
 * Serving on Deno: through Deno.serve (hyper underneath), what a Deno user and Deno Deploy
 * run, where an event stream is read as the ReadableStream it is; or, with
 * SSE_DENO_SERVER=node, through Deno's node:http and the Node adapter, for llhttp's
 * stricter request parsing.
 */
import type { Listen } from "../server.ts";

export const listenWithDeno: Listen = async (fetch, config, logger) => {
  if (config.denoServer === "serve") return listenWithDenoServe(fetch, config, logger);
  const { listenWithNode } = await import("./node.ts");
  return listenWithNode(fetch, config, logger);
};

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
      (request) => (validHost(request) ? fetch(request) : new Response("bad request: invalid Host header", { status: 400 })),
    );
  });

/**
 * Deno.serve makes `request.url` from the Host header as sent: `Host: h/submit?` turns
 * `GET /metrics` into `http://h/submit?/metrics`, routed as `/submit`; behind a proxy
 * that routes by path and passes Host on, that reaches routes it does not expose. A Host
 * that is not one (RFC 9110 7.2: a host, an optional port) is refused, as node:http does
 * (Bun takes the path from the request line).
 */
function validHost(request: Request): boolean {
  return HOST.test(request.headers.get("host") ?? "");
}
const HOST = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?$/;

/** Serving through node:http, by way of @hono/node-server. */
import { serve } from "@hono/node-server";
import type { Server } from "node:http";
import type { Listen } from "../server.ts";

export const listenWithNode: Listen = (fetch, config) =>
  new Promise((resolve) => {
    const server = serve({ fetch, port: config.port, hostname: config.host }, (info) =>
      resolve({
        port: info.port,
        stopAccepting: () => void server.close(),
        close: () => {
          server.close();
          server.closeAllConnections();
        },
      }),
    ) as Server;
    // A stream is one long response: no request or idle timeout may cut it.
    server.requestTimeout = 0;
    server.timeout = 0;
  });

/** Node entry: `npm start` (through @hono/node-server). */
import { serve } from "@hono/node-server";
import type { Server } from "node:http";
import process from "node:process";
import { run } from "../server.ts";

await run(process.env, (fetch, config) =>
  new Promise((resolve) => {
    const server = serve({ fetch, port: config.port, hostname: config.host }, (info) =>
      resolve({
        port: info.port,
        close: () => {
          server.close();
          (server as Server).closeAllConnections();
        },
      }),
    ) as Server;
    // A stream is one long response: no request or idle timeout may cut it.
    server.requestTimeout = 0;
    server.timeout = 0;
  }),
);

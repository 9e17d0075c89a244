/** Bun entry: `bun run server`. */
import { run } from "../server.ts";

await run(process.env, (fetch, config) => {
  const server = Bun.serve({
    port: config.port,
    hostname: config.host,
    fetch,
    // Streams idle between heartbeats; Bun would otherwise cut them after 10 s.
    idleTimeout: 0,
  });
  return { port: server.port ?? config.port, close: () => server.stop(true) };
});

/** Deno entry: `deno task start`. */
import { run } from "../server.ts";

await run(Deno.env.toObject(), (fetch, config) =>
  new Promise((resolve) => {
    const abort = new AbortController();
    const server = Deno.serve(
      {
        port: config.port,
        hostname: config.host,
        signal: abort.signal,
        onListen: ({ port }) => resolve({ port, close: () => abort.abort() }),
      },
      fetch,
    );
    void server.finished;
  }),
);

/**
 * `npm run demo`: the SSE server (a child process, on a free port) and the todo app (on
 * PORT, default 3000), sharing a secret generated for this run only. Prints the URL to open.
 *
 * Env: PORT (the app's; 0 = any free port), HOST (both servers; default 127.0.0.1, as the
 * page is redirected to the SSE server on that same host), SSE_* settings pass through.
 */
import { randomBytes } from "node:crypto";
import { createTodoApp } from "./app.ts";
import { createSsePublisher } from "./sse-publisher.ts";
import { hostForUrl, startSseProcess } from "./sse-process.ts";

const host = process.env.HOST || "127.0.0.1";
const port = Number(process.env.PORT || 3000);
const secret = randomBytes(32);

const sse = await startSseProcess({
  secretHex: secret.toString("hex"),
  host,
  onLog: (line) => console.log(`[sse-server] ${line}`),
});
const publisher = createSsePublisher({ secret: new Uint8Array(secret), privateUrl: sse.url, publicUrl: sse.url });
const app = createTodoApp({ publisher });

let server: ReturnType<typeof Bun.serve>;
try {
  server = Bun.serve({ port, hostname: host, fetch: app.fetch });
} catch (error) {
  console.error(`todo demo: cannot listen on ${host}:${port} (${String(error)}); try PORT=0`);
  await sse.stop();
  process.exit(1);
}

const appUrl = `http://${hostForUrl(host)}:${server.port}/`;
console.log(`todo demo: open ${appUrl} in two windows (SSE server at ${sse.url}); Ctrl-C stops both`);

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.stop(true);
  await sse.stop();
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));
// Without its SSE server the demo is broken: say so and exit rather than half-run.
void sse.exited.then((code) => {
  if (stopping) return;
  console.error(`todo demo: the SSE server exited (${code}); stopping`);
  void stop(1);
});

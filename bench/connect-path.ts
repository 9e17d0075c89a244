/**
 * In-process cost of opening one stream (`GET events` through the whole app: routing,
 * CORS, token, payload, stream, Response), without sockets: µs per stream, median of
 * rounds. Run: `bun bench/connect-path.ts` (or under tsx / deno run -A). With CLAIMED=1
 * the app is called as a server that claims event streams calls it (Node).
 */
import { encode } from "@msgpack/msgpack";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { createSseServer } from "../src/server.ts";
import { CLAIMING_SERVER, claimableStream } from "../src/stream.ts";
import { createBranca } from "../src/token/branca.ts";

const SECRET = "7ff8e5d9a6c0b1e3d4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091";
const STREAMS = Number(process.env.STREAMS ?? 5000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const env = process.env.CLAIMED === "1" ? CLAIMING_SERVER : undefined;

const server = await createSseServer(
  loadConfig({ SSE_SECRET: SECRET, LOG_LEVEL: "silent", SSE_HEARTBEAT: "3600" }),
  createLogger("silent", () => {}),
);
const branca = createBranca(Uint8Array.from(SECRET.match(/../g)!, (h) => parseInt(h, 16)));
const urls = Array.from(
  { length: STREAMS },
  (_, i) => `http://127.0.0.1/events?token=${branca.encode(encode({ topics: [`user-${i}`, "news"] }))}`,
);

const perStream: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const responses: Response[] = [];
  const started = performance.now();
  for (const url of urls) responses.push(await server.fetch(new Request(url), env));
  perStream.push(((performance.now() - started) * 1000) / STREAMS);
  if (responses.some((r) => r.status !== 200)) throw new Error("a stream did not open");
  await Promise.all(responses.map((r) => (env ? claimableStream(r)!.stream.end() : r.body!.cancel())));
}
perStream.sort((a, b) => a - b);
console.log(
  `open one stream: median ${perStream[Math.floor(ROUNDS / 2)]!.toFixed(1)} µs ` +
    `(min ${perStream[0]!.toFixed(1)}, max ${perStream.at(-1)!.toFixed(1)}) over ${ROUNDS} × ${STREAMS}`,
);
await server.close();
process.exit(0);

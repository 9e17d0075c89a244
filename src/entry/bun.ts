/** Bun entry: `bun run server`. */
import { listenWithBun } from "../listen/bun.ts";
import { spawnWebWorker } from "../listen/web-worker.ts";
import { run } from "../server.ts";

await run(process.env, listenWithBun, spawnWebWorker(new URL("./token-worker.ts", import.meta.url)));

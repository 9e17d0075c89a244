/** Deno entry: `deno task start`. */
import { listenWithDeno } from "../listen/deno.ts";
import { spawnWebWorker } from "../listen/web-worker.ts";
import { run } from "../server.ts";

await run(Deno.env.toObject(), listenWithDeno, spawnWebWorker(new URL("./token-worker.ts", import.meta.url)));

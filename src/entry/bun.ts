/** Bun entry: `bun run server`. */
import { listenWithBun } from "../listen/bun.ts";
import { run } from "../server.ts";

await run(process.env, listenWithBun);

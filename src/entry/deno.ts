/** Deno entry: `deno task start`. */
import { listenWithDeno } from "../listen/deno.ts";
import { run } from "../server.ts";

await run(Deno.env.toObject(), listenWithDeno);

/** Node entry: `npm start`. */
import process from "node:process";
import { listenWithNode } from "../listen/node.ts";
import { spawnNodeWorker } from "../listen/node-worker.ts";
import { run } from "../server.ts";

await run(process.env, listenWithNode, spawnNodeWorker);

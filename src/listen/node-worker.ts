/** Token-verification workers on Node: node:worker_threads (src/token/offload.ts). */
import { Worker } from "node:worker_threads";
import type { SpawnTokenWorker } from "../token/offload.ts";

const WORKER_MODULE = new URL("../entry/token-worker-node.mjs", import.meta.url);

export const spawnNodeWorker: SpawnTokenWorker = (events) => {
  const worker = new Worker(WORKER_MODULE);
  worker.on("message", (reply) => events.message(reply));
  worker.on("error", (error) => events.exit(`error: ${String(error)}`));
  worker.on("messageerror", () => events.exit("a message could not be read"));
  worker.on("exit", (code) => events.exit(`exited with code ${code}`));
  // The server's sockets keep the process alive, not this thread.
  worker.unref();
  return { post: (request) => worker.postMessage(request), terminate: () => void worker.terminate() };
};

/** Token-verification workers as Web Workers: Bun and Deno (src/token/offload.ts). */
import type { SpawnTokenWorker } from "../token/offload.ts";

/** `url`: the worker module (src/entry/token-worker.ts), resolved by the caller's entry point. */
export const spawnWebWorker =
  (url: URL): SpawnTokenWorker =>
  (events) => {
    const worker = new Worker(url.href, { type: "module" });
    worker.addEventListener("message", (event: MessageEvent) => events.message(event.data));
    worker.addEventListener("error", (event: ErrorEvent) => {
      event.preventDefault(); // Deno would otherwise end the whole process
      events.exit(`error: ${event.message}`);
    });
    worker.addEventListener("messageerror", () => events.exit("a message could not be read"));
    // Bun only: the worker's thread ended (process.exit inside it, or terminate()).
    worker.addEventListener("close", () => events.exit("closed"));
    // The server's sockets keep the process alive, not this thread.
    (worker as { unref?: () => void }).unref?.();
    return { post: (request) => worker.postMessage(request), terminate: () => worker.terminate() };
  };

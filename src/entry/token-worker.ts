/**
 * Token-verification worker for runtimes with Web Workers (Bun, Deno; also inside the
 * compiled binary, where `npm run build` names it as an entry point).
 */
import { releaseEarlyMessages } from "../token/early-messages.ts"; // first: see that module
import { serveTokenVerification, type WorkerPort } from "../token/worker.ts";

serveTokenVerification(globalThis as unknown as WorkerPort, releaseEarlyMessages());

// Token-verification worker for Node (node:worker_threads). Node 20 does not run the
// parent's `--import tsx` in a worker before loading its module, so tsx is registered here.
import { parentPort } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
const { serveTokenVerification } = await import("../token/worker.ts");
serveTokenVerification(parentPort);

/**
 * The body of a token-verification worker (see ./offload.ts): runs the known-answer test
 * on its own copy of the crypto and builds its codec from the key it is sent first, then
 * answers each job with the payload or the TokenError's reason. Portable: an entry point
 * hands it the worker's message port.
 */
import { createBranca, TokenError, type Branca } from "./branca.ts";
import type { VerifyReply, WorkerReply, WorkerRequest } from "./offload.ts";
import { checkTokenCrypto } from "./self-test.ts";

/** The worker's side of the channel: Web `self`, or Node's `parentPort`. */
export interface WorkerPort {
  addEventListener(type: "message", listener: (event: { readonly data: unknown }) => void): void;
  postMessage(message: WorkerReply): void;
}

/** `early`: messages that arrived before this module was loaded, answered first, in order. */
export function serveTokenVerification(port: WorkerPort, early: readonly unknown[] = []): void {
  let branca: Branca | undefined;
  const handle = (data: unknown) => {
    const request = data as WorkerRequest;
    if (request.kind === "init") {
      try {
        checkTokenCrypto();
        branca = createBranca(request.secret);
        port.postMessage({ kind: "ready" });
      } catch (error) {
        port.postMessage({ kind: "failed", message: error instanceof Error ? error.message : String(error) });
      }
      return;
    }
    port.postMessage(verify(branca, request.id, request.token, request.ttl));
  };
  for (const data of early) handle(data);
  port.addEventListener("message", ({ data }) => handle(data));
}

function verify(branca: Branca | undefined, id: number, token: string, ttl: number): VerifyReply {
  try {
    if (!branca) throw new Error("no key: the worker was not initialised");
    const { payload, timestamp } = branca.open(token, { ttl });
    return { id, ok: true, payload, timestamp };
  } catch (error) {
    if (error instanceof TokenError) return { id, ok: false, reason: error.reason, message: error.message };
    return { id, ok: false, reason: null, message: String(error) };
  }
}

/**
 * The body of a token-verification worker (see ./offload.ts): builds its own codec from
 * the key it is sent first, then answers each job with the payload or the TokenError's
 * reason. Portable: an entry point hands it the worker's message port.
 */
import { createBranca, TokenError, type Branca } from "./branca.ts";
import type { VerifyReply, WorkerRequest } from "./offload.ts";

/** The worker's side of the channel: Web `self`, or Node's `parentPort`. */
export interface WorkerPort {
  addEventListener(type: "message", listener: (event: { readonly data: unknown }) => void): void;
  postMessage(message: VerifyReply): void;
}

/** `early`: messages that arrived before this module was loaded, answered first, in order. */
export function serveTokenVerification(port: WorkerPort, early: readonly unknown[] = []): void {
  let branca: Branca | undefined;
  const handle = (data: unknown) => {
    const request = data as WorkerRequest;
    if (request.kind === "init") {
      branca = createBranca(request.secret);
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
    return { id, ok: true, payload: branca.decode(token, { ttl }) };
  } catch (error) {
    if (error instanceof TokenError) return { id, ok: false, reason: error.reason, message: error.message };
    return { id, ok: false, reason: null, message: String(error) };
  }
}

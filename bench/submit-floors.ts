/**
 * The servers bench/submit-path.ts measures `POST /submit` of the real server against, on
 * the same runtime. Runs unchanged on Bun, Deno and Node (Bun.serve, Deno.serve, and on
 * Node @hono/node-server, the real server's Node listener). Prints
 * `{"msg":"listening","port":N}` once listening. VARIANT:
 *
 *   bare    reads the body as text and answers `OK`: what the runtime's server costs
 *   naive   also verifies the body with the `branca` npm package (base-x + its own
 *           libsodium build) and decodes the payload with @msgpack/msgpack; 401 on a bad
 *           token, and nothing else checked: a minimal server that does the token work
 */
import { decode } from "@msgpack/msgpack";
import createReferenceBranca from "branca";
import { serve } from "@hono/node-server";
import { Buffer } from "node:buffer";
import process from "node:process";
import type { FetchHandler } from "../src/server.ts";

const variant = process.env.VARIANT ?? "bare";
const secret = process.env.SSE_SECRET ?? "";
const host = "127.0.0.1";
/** What the naive server decoded last, kept so that no JIT drops the work. */
let lastPayload: unknown;

function handler(kind: string): FetchHandler {
  if (kind === "bare") return async (request) => (await request.text(), new Response("OK"));
  if (kind !== "naive") throw new Error(`unknown VARIANT ${kind}`);
  const branca = createReferenceBranca(Buffer.from(secret, "hex"));
  return async (request) => {
    const token = (await request.text()).trim();
    try {
      lastPayload = decode(branca.decode(token, 86400));
    } catch {
      return new Response("invalid token", { status: 401 });
    }
    return new Response("OK");
  };
}

const fetch = handler(variant);
const announce = (port: number) => console.log(JSON.stringify({ msg: "listening", port, kept: typeof lastPayload }));
if (typeof Bun !== "undefined") {
  announce(Bun.serve({ port: 0, hostname: host, fetch }).port!);
} else if ("Deno" in globalThis) {
  const deno = (globalThis as unknown as { Deno: { serve(o: object, f: FetchHandler): unknown } }).Deno;
  deno.serve({ port: 0, hostname: host, onListen: ({ port }: { port: number }) => announce(port) }, fetch);
} else {
  serve({ fetch, port: 0, hostname: host }, (info) => announce(info.port));
}

/**
 * Reading token payloads: the hand reader of src/protocol.ts against @msgpack/msgpack
 * (decode alone, and decode + the zod schema, the path a payload of another shape takes).
 * µs per payload, median of rounds, for a connect's `{topics: [...]}` and a submit's
 * `{events: [...]}` of 10 events (also with an idempotency `id`). Run under each runtime:
 *
 *   bun bench/payload.ts  ·  npx tsx bench/payload.ts  ·  deno run -A bench/payload.ts
 */
import { encode } from "@msgpack/msgpack";
import { decodePayload, parseSubmit, parseSubscribe, submitSchema, subscribeSchema } from "../src/protocol.ts";

const LIMITS = { maxTopicsPerToken: 100, maxEventsPerSubmit: 1000, maxEventBytes: 65_536 };
const COUNT = 1000;
const ROUNDS = 15;
const PER_ROUND = 100_000;

const subscribes = Array.from({ length: COUNT }, (_, i) => encode({ topics: [`user-${i}`, "news"] }));
const tenEvents = (i: number) =>
  Array.from({ length: 10 }, (_, k) => ({ topic: `user-${i}-${k}`, event: "update", data: `{"n":${k}}` }));
const submits = Array.from({ length: COUNT }, (_, i) => encode({ events: tenEvents(i) }));
/** As SseClient sends them: with an idempotency id (a UUID). */
const submitsWithId = Array.from({ length: COUNT }, (_, i) => encode({ events: tenEvents(i), id: crypto.randomUUID() }));

function time(payloads: Uint8Array[], read: (payload: Uint8Array) => unknown): number {
  const perPayload: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    for (let i = 0; i < PER_ROUND; i++) read(payloads[i % COUNT]!);
    perPayload.push(((performance.now() - started) * 1000) / PER_ROUND);
  }
  return perPayload.sort((a, b) => a - b)[ROUNDS >> 1]!;
}

const rows: [string, Uint8Array[], (payload: Uint8Array) => unknown][] = [
  ["subscribe: hand reader", subscribes, (p) => parseSubscribe(p, LIMITS)],
  ["subscribe: @msgpack/msgpack decode", subscribes, decodePayload],
  ["subscribe: decode + zod", subscribes, (p) => subscribeSchema.parse(decodePayload(p))],
  ["submit ×10: hand reader", submits, (p) => parseSubmit(p, LIMITS)],
  ["submit ×10 + id: hand reader", submitsWithId, (p) => parseSubmit(p, LIMITS)],
  ["submit ×10: @msgpack/msgpack decode", submits, decodePayload],
  ["submit ×10: decode + zod", submits, (p) => submitSchema.parse(decodePayload(p))],
];
const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";
for (const [name, payloads, read] of rows) console.log(`${runtime}\t${name}\t${time(payloads, read).toFixed(3)} µs`);

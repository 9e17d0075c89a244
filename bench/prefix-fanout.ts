/**
 * What prefix grants cost the hub, measured in process (no sockets, history off):
 * deliveries per second to 10,000 prefix streams against 10,000 exact-topic streams (each
 * stream its own prefix or topic, events spread over all of them), and the cost per event
 * of exact-topic streams alone, beside 100 and beside 10,000 prefix streams that match no
 * event. Rounds alternate the cases in one process; medians are reported.
 * Run: `bun bench/prefix-fanout.ts` (or `npx tsx bench/prefix-fanout.ts`).
 */
import process from "node:process";
import { Hub, type Subscriber } from "../src/hub.ts";
import type { SseEvent } from "../src/sse.ts";
import { median } from "./lib.ts";

const STREAMS = 10_000;
const EVENTS = Number(process.env.EVENTS ?? 500_000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const BATCH = 100;
const DATA = JSON.stringify({ id: 12345, status: "updated", at: "2026-11-25T10:00:00Z" }); // ~60 bytes

/** A stream that takes frames and does nothing but count them. */
class Sink implements Subscriber {
  active = true;
  frames = 0;
  push(): void {
    this.frames++;
  }
  end(): void {}
}

// Each event goes to one user's topic, users in turn: every stream hears every 10,000th event.
const events: SseEvent[] = Array.from({ length: EVENTS }, (_, i) => ({
  topic: `user-${i % STREAMS}/inbox`,
  event: "update",
  data: DATA,
}));
const batches = Array.from({ length: EVENTS / BATCH }, (_, i) => events.slice(i * BATCH, (i + 1) * BATCH));

type Case = { readonly name: string; readonly build: () => Hub };
const cases: Case[] = [
  { name: "10,000 exact-topic streams", build: () => hubWith((hub, i) => hub.subscribe(new Sink(), [`user-${i}/inbox`])) },
  { name: "10,000 prefix streams", build: () => hubWith((hub, i) => hub.subscribe(new Sink(), [], [`user-${i}/`])) },
  { name: "10,000 exact + 100 non-matching prefix streams", build: () => withIdlePrefixes(100) },
  { name: "10,000 exact + 10,000 non-matching prefix streams", build: () => withIdlePrefixes(10_000) },
];

function hubWith(add: (hub: Hub, i: number) => void): Hub {
  const hub = new Hub();
  for (let i = 0; i < STREAMS; i++) add(hub, i);
  return hub;
}

/**
 * `count` prefixes that no event matches, all of one length (`idle-00042/`), so that 100
 * and 10,000 of them leave the hub the same one length to probe: what differs is only
 * their number.
 */
function withIdlePrefixes(count: number): Hub {
  const hub = hubWith((h, i) => h.subscribe(new Sink(), [`user-${i}/inbox`]));
  for (let i = 0; i < count; i++) hub.subscribe(new Sink(), [], [`idle-${String(i).padStart(5, "0")}/`]);
  return hub;
}

function run(hub: Hub): { deliveriesPerSecond: number; nsPerEvent: number } {
  const before = hub.deliveries;
  const started = performance.now();
  for (const batch of batches) hub.dispatch(batch);
  const ms = performance.now() - started;
  const deliveries = hub.deliveries - before;
  if (deliveries !== EVENTS) throw new Error(`expected ${EVENTS} deliveries, got ${deliveries}`);
  return { deliveriesPerSecond: (deliveries / ms) * 1000, nsPerEvent: (ms * 1e6) / EVENTS };
}

const results = new Map(cases.map((c) => [c.name, [] as { deliveriesPerSecond: number; nsPerEvent: number }[]]));
const hubs = cases.map((c) => c.build());
for (const [i, hub] of hubs.entries()) run(hub); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, c] of cases.entries()) results.get(c.name)!.push(run(hubs[i]!));
}

const { Bun: bun, Deno: deno } = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
const runtime = bun ? `bun ${bun.version}` : deno ? `deno ${deno.version.deno}` : `node ${process.version}`;
console.log(`prefix fan-out in process (${runtime}): ${EVENTS} events of ${DATA.length} B data per round, batches of ${BATCH}, ${ROUNDS} rounds, history off`);
const medians = new Map<string, { dps: number; ns: number }>();
for (const c of cases) {
  const rows = results.get(c.name)!;
  const dps = median(rows.map((r) => r.deliveriesPerSecond));
  const ns = median(rows.map((r) => r.nsPerEvent));
  medians.set(c.name, { dps, ns });
  const all = rows.map((r) => (r.deliveriesPerSecond / 1e6).toFixed(2)).join(" ");
  console.log(`${c.name.padEnd(52)} ${(dps / 1e6).toFixed(2)} M deliveries/s, ${ns.toFixed(0)} ns/event (rounds: ${all})`);
}
// For scale: what matching each event against every prefix in turn would cost (no index).
const naivePrefixes = Array.from({ length: 10_000 }, (_, i) => `idle-${String(i).padStart(5, "0")}/`);
const naiveEvents = events.slice(0, Math.min(EVENTS, 20_000));
const naive: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  let matches = 0;
  const started = performance.now();
  for (const { topic } of naiveEvents) for (const prefix of naivePrefixes) if (topic.startsWith(prefix)) matches++;
  naive.push(((performance.now() - started) * 1e6) / naiveEvents.length);
  if (matches !== 0) throw new Error("the idle prefixes matched an event");
}
console.log(`${"(a scan of 10,000 prefixes per event, no index)".padEnd(52)} ${median(naive).toFixed(0)} ns/event of scanning alone`);
const of = (name: string) => medians.get(name)!;
console.log(`prefix / exact deliveries/s: ${(of(cases[1]!.name).dps / of(cases[0]!.name).dps).toFixed(2)}`);
console.log(`ns/event beside 10,000 vs 100 non-matching prefix streams: ${(of(cases[3]!.name).ns / of(cases[2]!.name).ns).toFixed(2)}`);
console.log(`ns/event beside 10,000 non-matching prefix streams vs none: ${(of(cases[3]!.name).ns / of(cases[0]!.name).ns).toFixed(2)}`);

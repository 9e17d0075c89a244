/**
 * What in-process history costs, measured without sockets: hub.dispatch time per event
 * with history on (default bounds) and off, alternating rounds in one process, with every
 * event heard by a subscriber and with none heard (the history then writes each frame
 * only where it keeps it), and the memory one kept event takes. Run: `bun bench/history-cost.ts` (or tsx / deno run -A).
 */
import { History } from "../src/history.ts";
import { Hub, type Subscriber } from "../src/hub.ts";

const EVENTS = Number(process.env.EVENTS ?? 200_000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const TOPICS = 1000;
const DATA = JSON.stringify({ id: 12345, status: "updated", at: "2026-11-25T10:00:00Z" }); // ~60 bytes

const sink: Subscriber = { active: true, push() {}, end() {} };
const events = Array.from({ length: EVENTS }, (_, i) => ({ topic: `topic-${i % TOPICS}`, event: "update", data: DATA }));
const defaults = { perTopic: 100, maxAgeMs: 300_000, maxBytes: 64 * 1024 * 1024 };

function hubWith(history: History | undefined, heard = true): Hub {
  const hub = new Hub(history);
  if (heard) for (let t = 0; t < TOPICS; t++) hub.subscribe(sink, [`topic-${t}`]); // every event has an audience
  return hub;
}

function nsPerEvent(hub: Hub): number {
  const started = performance.now();
  for (let i = 0; i < EVENTS; i += 100) hub.dispatch(events.slice(i, i + 100));
  return ((performance.now() - started) * 1e6) / EVENTS;
}

const on: number[] = [];
const off: number[] = [];
const unheardOn: number[] = [];
const unheardOff: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  on.push(nsPerEvent(hubWith(new History(defaults))));
  off.push(nsPerEvent(hubWith(undefined)));
  unheardOn.push(nsPerEvent(hubWith(new History(defaults), false)));
  unheardOff.push(nsPerEvent(hubWith(undefined, false)));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// Memory: fill a history (no count bound in the way) and compare heap before and after.
const gc = (globalThis as { gc?: () => void }).gc ?? (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc.bind(null, true);
gc?.();
// Bun's heap holds the history's typed arrays; V8 keeps their bytes outside its heap, where
// process.memoryUsage() does not account them reliably: the figure is meaningful on Bun.
const memory = () => process.memoryUsage().heapUsed;
const before = memory();
const kept = new History({ perTopic: 1_000_000, maxAgeMs: 3_600_000, maxBytes: 1 << 30 });
for (const { topic, event, data } of events) kept.append(topic, event, data);
gc?.();
const bytesPerEvent = (memory() - before) / kept.size;

console.log(`dispatch, history on : ${median(on).toFixed(0)} ns/event (min ${Math.min(...on).toFixed(0)}, max ${Math.max(...on).toFixed(0)})`);
console.log(`dispatch, history off: ${median(off).toFixed(0)} ns/event (min ${Math.min(...off).toFixed(0)}, max ${Math.max(...off).toFixed(0)})`);
console.log(`no subscriber, history on : ${median(unheardOn).toFixed(0)} ns/event (min ${Math.min(...unheardOn).toFixed(0)}, max ${Math.max(...unheardOn).toFixed(0)})`);
console.log(`no subscriber, history off: ${median(unheardOff).toFixed(0)} ns/event (min ${Math.min(...unheardOff).toFixed(0)}, max ${Math.max(...unheardOff).toFixed(0)})`);
console.log(`history memory: ${bytesPerEvent.toFixed(0)} bytes of memory per kept event (data ${DATA.length} B, ${(kept.bytes / kept.size).toFixed(0)} B accounted by SSE_HISTORY_MAX_BYTES)`);

// Pauses: every topic at its count bound, each event drops its topic's oldest; once the
// dropped outnumber the kept, the journal copies the kept into fresh arrays in one go.
const full = new History(defaults);
const pauses: number[] = [];
const STEADY = 6 * TOPICS * defaults.perTopic;
for (let i = 0; i < STEADY; i++) {
  const started = performance.now();
  full.append(`topic-${(i * 7919) % TOPICS}`, "update", DATA, false);
  const ms = performance.now() - started;
  if (ms > 1) pauses.push(ms);
}
pauses.sort((a, b) => b - a);
console.log(
  `pauses: ${STEADY} appends at the count bound (${full.size} kept): ${pauses.length} took over 1 ms, ` +
    `the longest ${pauses.slice(0, 5).map((ms) => ms.toFixed(1)).join(", ")} ms`,
);

/**
 * Summarises a V8/JSC `.cpuprofile` (from `bun --cpu-prof` or `node --cpu-prof`, e.g. via
 * `npm run bench -- --profile DIR`): self time per function, and inclusive time of the
 * functions that matter, top first.
 *
 *   npx tsx bench/profile-summary.ts FILE.cpuprofile [top=30]
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

const file = process.argv[2];
if (!file) throw new Error("usage: profile-summary FILE.cpuprofile [top]");
const top = /^\d+$/.test(process.argv[3] ?? "") ? Number(process.argv[3]) : 30;
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node: sample count x the sampling interval (the median time delta). The
// deltas themselves are not used as weights: a sample taken after the thread was idle
// carries the whole idle gap (Bun's profiles), which would bill idle time to a function.
const self = new Map<number, number>();
if (profile.samples && profile.timeDeltas) {
  const sorted = [...profile.timeDeltas].sort((a, b) => a - b);
  const interval = sorted[sorted.length >> 1] ?? 1000;
  for (const id of profile.samples) self.set(id, (self.get(id) ?? 0) + interval);
} else {
  const interval = (profile.endTime - profile.startTime) / Math.max(1, profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0));
  for (const n of profile.nodes) self.set(n.id, (n.hitCount ?? 0) * interval);
}

const label = (n: Node) => {
  const f = n.callFrame;
  const where = f.url ? `${f.url.replace(/^.*\/(node_modules|src)\//, "$1/")}:${f.lineNumber + 1}` : "";
  return `${f.functionName || "(anonymous)"} ${where}`.trim();
};

const selfBy = new Map<string, number>();
const inclBy = new Map<string, number>();
let total = 0;
for (const [id, t] of self) {
  total += t;
  const n = byId.get(id)!;
  selfBy.set(label(n), (selfBy.get(label(n)) ?? 0) + t);
  // inclusive: add to each distinct label on the path to the root
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur)!);
    if (seen.has(l)) continue;
    seen.add(l);
    inclBy.set(l, (inclBy.get(l) ?? 0) + t);
  }
}

const idle = [...selfBy].filter(([l]) => /^\((idle|program|garbage collector)\)/.test(l)).reduce((s, [, t]) => s + t, 0);
const pct = (t: number) => ((100 * t) / total).toFixed(1).padStart(5) + "%";
console.log(`total sampled ${(total / 1000).toFixed(0)} ms (idle/program/gc ${(idle / 1000).toFixed(0)} ms)`);
console.log("\nself time:");
for (const [l, t] of [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(t)}  ${(t / 1000).toFixed(1).padStart(8)} ms  ${l}`);
console.log("\ninclusive time:");
for (const [l, t] of [...inclBy].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(t)}  ${(t / 1000).toFixed(1).padStart(8)} ms  ${l}`);

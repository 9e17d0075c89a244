/**
 * Load generator process (started by bench/run.ts, never by hand): holds SSE streams on
 * raw `node:net` sockets and publishes over raw keep-alive HTTP/1.1. Commands arrive as
 * JSON lines on stdin; each gets one JSON line on stdout ({id, ...result}); unsolicited
 * notices have `ev`. Per-connection work is minimal: find the end of the response head
 * once, then count "\n\n" frame ends and timestamp when a connection reaches its goal.
 *
 * Every reply carries `cpuMs` (this process's user+system CPU so far), so the driver can
 * show that the generator is not the bottleneck.
 */
import net from "node:net";
import { createInterface } from "node:readline";
import { encode } from "@msgpack/msgpack";
import { createBranca } from "../src/token/branca.ts";
import { nowMs, RawHttpClient, sleep, type PubRequest } from "./lib.ts";

type Mode = "ours" | "nchan";

interface Target {
  host: string;
  port: number;
  mode: Mode;
  /** ours: the Branca key as 64 hex characters */
  secretHex?: string;
  /** only in ours mode: the route prefix ("" for root) */
  base?: string;
}

const LF = 10;
const CR = 13;

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const out = (obj: unknown) => process.stdout.write(JSON.stringify(obj) + "\n");

// ---- subscriber streams ------------------------------------------------------------

let sockets: (net.Socket | null)[] = [];
let frames = new Int32Array(0);
let goal = new Int32Array(0);
let reachedAt = new Float64Array(0);
let headDone = new Uint8Array(0);
let lastLF = new Uint8Array(0);
let live = 0;
let reached = 0;
let goalActive = false;
let wantTimes = false;
let lastReach = 0;
let lostSinceGoal = 0;
let closedTotal = 0;
let badStatus = 0;
/** Heads that arrived in more than one read, and the pieces held until they are whole. */
let splitHeads = 0;
const partialHead = new Map<number, Buffer>();

/**
 * Every stream connection comes from its own source address, 127.B.x.y, B being this
 * process's block (LOADGEN_SOURCE_BLOCK, one per generator the driver starts). With one
 * source address, each connect() searched the ephemeral ports for a free 4-tuple, a search
 * that grows with every port in use or in TIME_WAIT: at 18,000 streams it cost the
 * generators ~0.3 ms of kernel CPU per connect and made them the bottleneck. From an
 * address of its own a connection's port is found at once. A generator that uses up its
 * block (65,024 addresses) goes on into the next one: an address shared with another
 * generator only makes the kernel search a little again, it never fails a connect.
 */
const SOURCE_BLOCK = Number(process.env.LOADGEN_SOURCE_BLOCK ?? 0);
const ADDRESSES_PER_BLOCK = 256 * 254;
let sourcesUsed = 0;

function nextSourceAddress(): string {
  const k = sourcesUsed++;
  // Blocks 16-255 (127.0-15.x.y stay free for servers); the last octet avoids 0 and 255.
  const block = 16 + ((SOURCE_BLOCK + Math.floor(k / ADDRESSES_PER_BLOCK)) % 240);
  const within = k % ADDRESSES_PER_BLOCK;
  return `127.${block}.${Math.floor(within / 254)}.${(within % 254) + 1}`;
}

function hexToBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

/** `prefix`: the stream is granted every topic under `topic` (a prefix grant), not `topic` itself. */
function streamPath(t: Target, topic: string, branca: ReturnType<typeof createBranca> | undefined, prefix = false): string {
  if (t.mode === "nchan") return `/sub/${topic}`;
  const token = branca!.encode(encode(prefix ? { topics: [], prefixes: [topic] } : { topics: [topic] }));
  return `${t.base ?? ""}/events?token=${token}`;
}

function onFrames(i: number, n: number, at: number): void {
  frames[i]! += n;
  if (goalActive && reachedAt[i] === 0 && frames[i]! >= goal[i]!) {
    reachedAt[i] = at;
    lastReach = at;
    reached++;
    checkGoal();
  }
}

function checkGoal(): void {
  if (!goalActive || reached < live) return;
  goalActive = false;
  const msg: Record<string, unknown> = { ev: "reached", count: reached, last: lastReach, lost: lostSinceGoal, cpuMs: cpuMs() };
  if (wantTimes) {
    const times: number[] = [];
    for (let i = 0; i < sockets.length; i++) if (sockets[i] && reachedAt[i]! > 0) times.push(reachedAt[i]!);
    msg.times = times;
  }
  out(msg);
}

/** Opens one stream; resolves true when the head (2xx) and `hello` frames have arrived. */
function openStream(t: Target, i: number, path: string, hello: number): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      resolve(ok);
    };
    const s = net.connect({ host: t.host, port: t.port, localAddress: nextSourceAddress() });
    sockets[i] = s;
    s.setNoDelay(true);
    s.on("connect", () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: ${t.host}:${t.port}\r\nAccept: text/event-stream\r\n\r\n`);
    });
    s.on("data", (buf: Buffer) => {
      const at = nowMs();
      let start = 0;
      if (!headDone[i]) {
        // The head may arrive in several reads when the machine is loaded: keep the pieces.
        const held = partialHead.get(i);
        if (held) buf = Buffer.concat([held, buf]);
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) {
          if (buf.length > 16_384) return (badStatus++, s.destroy(), done(false));
          partialHead.set(i, buf);
          if (!held) splitHeads++;
          return;
        }
        partialHead.delete(i);
        const status = buf[9] === 0x32; // "2xx"
        if (!status) {
          badStatus++;
          s.destroy();
          done(false);
          return;
        }
        headDone[i] = 1;
        live++;
        start = end + 4;
      }
      let n = 0;
      if (lastLF[i] && buf[start] === LF) n++;
      let pos = start;
      for (;;) {
        const k = buf.indexOf("\n\n", pos);
        if (k < 0) break;
        n++;
        pos = k + 2;
      }
      lastLF[i] = buf[buf.length - 1] === LF ? 1 : 0;
      // "\n\r\n" at a chunk boundary must not look like "\n\n"
      if (buf.length >= 2 && buf[buf.length - 2] === CR) lastLF[i] = 0;
      if (n > 0) onFrames(i, n, at);
      if (!settled && frames[i]! >= hello) done(true);
    });
    s.on("error", () => {});
    s.on("close", () => {
      closedTotal++;
      if (sockets[i] === s) sockets[i] = null;
      if (headDone[i]) {
        headDone[i] = 0;
        live--;
        if (goalActive) {
          lostSinceGoal++;
          if (reachedAt[i]! > 0) reached--;
          checkGoal();
        }
      }
      done(false);
    });
  });
}

async function cmdOpen(a: {
  target: Target;
  count: number;
  topics: string[] | string; // one topic for all, or one per stream
  /** The topics are prefix grants. */
  prefixes?: boolean;
  window: number;
  hello: number;
}) {
  const t = a.target;
  const branca = t.mode === "ours" ? createBranca(hexToBytes(t.secretHex!)) : undefined;
  const base = sockets.length;
  const n = a.count;
  // Tokens are minted before the clock starts: each stream has its own token.
  const paths: string[] = new Array(n);
  for (let k = 0; k < n; k++) paths[k] = streamPath(t, typeof a.topics === "string" ? a.topics : a.topics[k]!, branca, a.prefixes);
  const grow = <T extends Int32Array | Float64Array | Uint8Array>(arr: T, make: (len: number) => T): T => {
    const next = make(base + n);
    next.set(arr);
    return next;
  };
  frames = grow(frames, (l) => new Int32Array(l));
  goal = grow(goal, (l) => new Int32Array(l));
  reachedAt = grow(reachedAt, (l) => new Float64Array(l));
  headDone = grow(headDone, (l) => new Uint8Array(l));
  lastLF = grow(lastLF, (l) => new Uint8Array(l));
  sockets.length = base + n;
  const cpu0 = cpuMs();
  const t0 = nowMs();
  let next = 0;
  let ok = 0;
  let failed = 0;
  const worker = async () => {
    while (next < n) {
      const k = next++;
      if (await openStream(t, base + k, paths[k]!, a.hello)) ok++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(a.window, n) }, worker));
  const t1 = nowMs();
  return { opened: ok, failed, badStatus, splitHeads, t0, t1, genCpuMs: cpuMs() - cpu0, live };
}

function cmdExpect(a: { add: number; times: boolean }) {
  reached = 0;
  lostSinceGoal = 0;
  wantTimes = a.times;
  lastReach = 0;
  for (let i = 0; i < sockets.length; i++) {
    goal[i] = frames[i]! + a.add;
    reachedAt[i] = 0;
  }
  goalActive = true;
  return { live };
}

/** Where the current goal stands (for timeouts and fan-out checks). */
function cmdProgress() {
  let min = Infinity;
  let behind = 0;
  for (let i = 0; i < sockets.length; i++) {
    if (!sockets[i] || !headDone[i]) continue;
    const missing = goal[i]! - frames[i]!;
    if (missing > 0) behind++;
    min = Math.min(min, frames[i]! - goal[i]!);
  }
  return { live, reached, behind, minOverGoal: min === Infinity ? 0 : min, goalActive, lost: lostSinceGoal };
}

async function cmdCloseAll() {
  goalActive = false;
  const open = sockets.filter((s): s is net.Socket => !!s);
  await Promise.race([
    Promise.all(open.map((s) => new Promise<void>((r) => (s.once("close", () => r()), s.destroy())))),
    sleep(10_000),
  ]);
  sockets = [];
  frames = new Int32Array(0);
  goal = new Int32Array(0);
  reachedAt = new Float64Array(0);
  headDone = new Uint8Array(0);
  lastLF = new Uint8Array(0);
  live = 0;
  reached = 0;
  return { closed: open.length };
}

// ---- churn ---------------------------------------------------------------------------

/** Connect, wait for the stream's first frame, disconnect; `cycles` times, `concurrency` at once. */
async function cmdChurn(a: { target: Target; cycles: number; concurrency: number; topic: string; tokens: number; timeoutMs: number }) {
  const t = a.target;
  const branca = t.mode === "ours" ? createBranca(hexToBytes(t.secretHex!)) : undefined;
  const paths = Array.from({ length: Math.min(a.tokens, a.cycles) }, () => streamPath(t, a.topic, branca));
  const cpu0 = cpuMs();
  const t0 = nowMs();
  const deadline = t0 + a.timeoutMs;
  let next = 0;
  let ok = 0;
  let failed = 0;
  const one = (path: string) =>
    new Promise<boolean>((resolve) => {
      const s = net.connect({ host: t.host, port: t.port, localAddress: nextSourceAddress() });
      let head = false;
      const timer = setTimeout(() => (s.destroy(), resolve(false)), 10_000);
      s.on("connect", () => s.write(`GET ${path} HTTP/1.1\r\nHost: ${t.host}:${t.port}\r\nAccept: text/event-stream\r\n\r\n`));
      s.on("data", (buf: Buffer) => {
        if (!head) {
          if (buf[9] !== 0x32) return (clearTimeout(timer), s.destroy(), resolve(false));
          head = true;
        }
        if (buf.indexOf("\n\n", buf.indexOf("\r\n\r\n") + 4) >= 0 || buf.indexOf("\n\n") >= 0) {
          clearTimeout(timer);
          s.destroy();
          resolve(true);
        }
      });
      s.on("error", () => {});
      s.on("close", () => (clearTimeout(timer), resolve(false)));
    });
  const worker = async () => {
    while (next < a.cycles && nowMs() < deadline) {
      const k = next++;
      if (await one(paths[k % paths.length]!)) ok++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: a.concurrency }, worker));
  return { ok, failed, t0, t1: nowMs(), genCpuMs: cpuMs() - cpu0 };
}

// ---- publishing ----------------------------------------------------------------------

/** Sends every request as fast as the connections allow; times the first write and last answer. */
async function cmdPubBatch(a: { host: string; port: number; connections: number; depth: number; requests: PubRequest[] }) {
  const client = new RawHttpClient(a.host, a.port, a.connections, a.depth);
  try {
    await client.ready();
    const prepared = a.requests.map((r) => client.prepare(r));
    const cpu0 = cpuMs();
    let t0 = 0;
    const statuses = await Promise.all(prepared.map((p) => client.request(p, () => (t0 ||= nowMs()))));
    const t1 = nowMs();
    return { t0, t1, non2xx: statuses.filter((s) => s < 200 || s > 299).length, genCpuMs: cpuMs() - cpu0 };
  } finally {
    client.close();
  }
}

/** Sends `rate` requests per second for `durationMs`, paced in 5 ms ticks. */
async function cmdPubRate(a: { host: string; port: number; connections: number; depth: number; request: PubRequest; rate: number; durationMs: number }) {
  const client = new RawHttpClient(a.host, a.port, a.connections, a.depth);
  try {
    await client.ready();
    const prepared = client.prepare(a.request);
    const total = Math.max(1, Math.round((a.rate * a.durationMs) / 1000));
    const cpu0 = cpuMs();
    const t0 = nowMs();
    let sent = 0;
    let non2xx = 0;
    let lastWrite = t0;
    const all: Promise<void>[] = [];
    while (sent < total && nowMs() - t0 < a.durationMs * 3) {
      const due = Math.min(total, Math.floor(((nowMs() - t0) * a.rate) / 1000) + 1);
      while (sent < due) {
        sent++;
        all.push(
          client.request(prepared, () => (lastWrite = nowMs())).then((s) => {
            if (s < 200 || s > 299) non2xx++;
          }),
        );
      }
      await sleep(5);
    }
    await Promise.all(all);
    return { sent, t0, lastWrite, t1: nowMs(), non2xx, genCpuMs: cpuMs() - cpu0 };
  } finally {
    client.close();
  }
}

// ---- command loop --------------------------------------------------------------------

const handlers: Record<string, (a: any) => unknown> = {
  open: cmdOpen,
  expect: cmdExpect,
  progress: cmdProgress,
  closeAll: cmdCloseAll,
  churn: cmdChurn,
  pubBatch: cmdPubBatch,
  pubRate: cmdPubRate,
  stats: () => ({ live, closedTotal, badStatus, rssKb: Math.round(process.memoryUsage().rss / 1024) }),
  exit: () => setTimeout(() => process.exit(0), 10),
};

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (process.env.BENCH_DEBUG) process.stderr.write(`gen ${process.pid} <- ${line.slice(0, 120)}\n`);
  let msg: { id: number; cmd: string; args?: unknown };
  try {
    msg = JSON.parse(line);
  } catch {
    return;
  }
  Promise.resolve()
    .then(() => handlers[msg.cmd]!(msg.args ?? {}))
    .then(
      (result) => out({ id: msg.id, ok: true, cpuMs: cpuMs(), ...(result as object) }),
      (error) => out({ id: msg.id, ok: false, error: String(error) }),
    );
});
// The driver going away (stdin closed) ends the generator: nothing is ever left behind.
rl.on("close", () => process.exit(0));
out({ ev: "ready", pid: process.pid });

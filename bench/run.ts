/**
 * Benchmark driver: `npm run bench [-- options]`.
 *
 * Starts each server under test (our server on Bun, Node, Deno; Nchan in nginx with
 * bench/nchan.conf), load generators (bench/loadgen.ts, separate Node processes with raw
 * sockets) and measures, for N subscribers:
 *   connect   N streams, each with its own token: connects/s and time until all are open
 *   memory    server RSS delta per open idle stream
 *   broadcast one event, one topic, N subscribers: time until the last has it, p50/p99
 *   fanout    highest sustained events/s into one topic at which all N keep up, and the
 *             server CPU per delivery at that rate
 *   topics    N subscribers on their own topic, one event each through batches: deliveries/s
 *   prefixes  as topics, each subscriber granted its own prefix (`u42/`), events to `u42/x`
 *             (not for Nchan)
 *   churn     100,000 connect/disconnect cycles: RSS after (settled: the lowest over 30 s) vs before
 * Each figure is the median of --runs runs (each on a fresh server), with min-max.
 *
 * Options:
 *   --targets bun,node,deno,nchan   (default: all four); also a runtime's floor, e.g. bun:start
 *                                   or bun:start+hono+token (bench/stream-variants.ts VARIANT)
 *   --n 1000,5000,18000             (default)
 *   --runs 3
 *   --scenarios connect,memory,broadcast,fanout,topics,churn
 *   --broadcasts 20
 *   --churn-cycles 100000
 *   --churn-runs 1                  (~15 s of cycles and 30 s of RSS readings per run)
 *   --warmup-cycles 20000           connect/disconnect cycles before the sized scenarios, so
 *                                   that a JIT's compiling is over before connect is timed
 *   --fanout-step-ms 2000
 *   --json FILE                     write every run's raw numbers
 *   --md FILE                       also write the results table (markdown) to FILE
 *   --profile DIR                   the servers write a CPU profile (.cpuprofile) to DIR (Deno's is
 *                                   recorded through its inspector by bench/inspector-profile.ts)
 *   --report A.json,B.json          only print the table of earlier --json files
 *
 * The driver installs nothing: if nginx or the Nchan module is missing it says how to
 * install them and skips Nchan. Everything it starts is killed when it ends, also on error.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { encode } from "@msgpack/msgpack";
import { createBranca } from "../src/token/branca.ts";
import { ROOT, RUNTIMES, SERVER_COMMANDS, type Runtime } from "../test/helpers/runtimes.ts";
import {
  freePort,
  median,
  nowMs,
  procChildren,
  procCpuMs,
  procCpuSplitMs,
  procRssKb,
  quantile,
  RawHttpClient,
  sleep,
  type PubRequest,
} from "./lib.ts";
import { killAll, stopChild, track } from "./cleanup.ts";
import { LoadGenerator, withTimeout } from "./generator.ts";

const HOST = "127.0.0.1";
const SECRET_HEX = "3f1e0d2c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const PER_GEN = 4500; // streams per load-generator process (each is limited to 20,000 files)
const NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so";

/**
 * A server under test: ours on a runtime, Nchan, or a runtime's floor: `bun:start` serves
 * bench/stream-variants.ts (VARIANT=start: a bare ReadableStream body, no app), so what the
 * runtime spends and what the app adds can be told apart in this same harness.
 */
type TargetName = Runtime | "nchan" | `${Runtime}:${string}`;

// ---- options -------------------------------------------------------------------------

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);

const opts = {
  targets: list(option("targets", "bun,node,deno,nchan")) as TargetName[],
  ns: list(option("n", "1000,5000,18000")).map(Number),
  runs: Number(option("runs", "3")),
  scenarios: new Set(list(option("scenarios", "connect,memory,broadcast,fanout,topics,churn"))),
  broadcasts: Number(option("broadcasts", "20")),
  churnCycles: Number(option("churn-cycles", "100000")),
  churnRuns: Number(option("churn-runs", "1")),
  warmupCycles: Number(option("warmup-cycles", "20000")),
  fanoutStepMs: Number(option("fanout-step-ms", "2000")),
  json: option("json", ""),
  md: option("md", ""),
  profile: option("profile", ""),
  report: option("report", ""),
};
for (const n of opts.ns) if (!(n > 0 && n <= 18_000)) throw new Error(`--n ${n}: must be 1..18000 (per-process open-file limit)`);
for (const t of opts.targets) {
  if (t !== "nchan" && !(RUNTIMES as readonly string[]).includes(t.split(":")[0]!)) {
    throw new Error(`--targets ${t}: not nchan, ${RUNTIMES.join(", ")} or <runtime>:<stream-variants VARIANT>`);
  }
}

// ---- process bookkeeping: everything started is killed on the way out -----------------


const log = (...parts: unknown[]) => process.stderr.write(parts.join(" ") + "\n");


// ---- load generators -----------------------------------------------------------------


async function startGens(count: number): Promise<LoadGenerator[]> {
  const gens = Array.from({ length: count }, () => new LoadGenerator(track));
  await withTimeout(Promise.all(gens.map((g) => g.ready)), 30_000, "load generators start");
  return gens;
}

// ---- servers under test --------------------------------------------------------------

interface Target {
  readonly name: TargetName;
  readonly port: number;
  /** The process whose RSS and CPU are measured (nginx: the worker). */
  readonly pid: number;
  readonly mode: "ours" | "nchan";
  stop(): Promise<void>;
}


/** With --profile DIR, Bun and Node servers write a CPU profile there when they stop. */
const PROFILE_FLAGS: Record<"bun" | "node", (dir: string) => string[]> = {
  bun: (dir) => ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-md"],
  node: (dir) => ["--cpu-prof", `--cpu-prof-dir=${dir}`],
};

/** The server's command line; with --profile, Deno (which has no --cpu-prof) opens its inspector. */
function serverArgs(runtime: Runtime, inspect: string | undefined): string[] {
  const [, ...rest] = SERVER_COMMANDS[runtime];
  if (!opts.profile) return rest;
  if (runtime === "deno") return [rest[0]!, `--inspect=${inspect}`, ...rest.slice(1)]; // after `run`
  return [...PROFILE_FLAGS[runtime](opts.profile), ...rest];
}

async function startOurs(runtime: Runtime, variant?: string): Promise<Target> {
  const inspect = opts.profile && runtime === "deno" ? `${HOST}:${await freePort(HOST)}` : undefined;
  const args = serverArgs(runtime, inspect);
  // A floor serves the variant server in place of the entry point (the script is the last argument).
  if (variant) args[args.length - 1] = "bench/stream-variants.ts";
  const child = track(
    spawn(SERVER_COMMANDS[runtime][0]!, args, {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "/tmp",
        SSE_SECRET: SECRET_HEX,
        PORT: "0",
        HOST,
        LOG_LEVEL: "info",
        NO_COLOR: "1",
        SSE_HEARTBEAT: "3600", // no heartbeat frames during a measurement
        ...(variant ? { VARIANT: variant } : {}),
        // Server settings given to the driver pass through (e.g. SSE_HISTORY_SIZE=0 to compare).
        ...Object.fromEntries(Object.entries(process.env).filter(([key]) => key.startsWith("SSE_") && key !== "SSE_SECRET")),
      },
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`${runtime} server exited (${code}): ${stderr}`)));
      createInterface({ input: child.stdout! }).on("line", (line) => {
        if (!line.includes('"listening"')) return;
        try {
          const entry = JSON.parse(line);
          if (entry.msg === "listening") resolve(entry.port);
        } catch {
          // not JSON
        }
      });
    }),
    30_000,
    `${runtime} server start`,
  );
  let stopRecording = async () => {};
  if (inspect) {
    try {
      stopRecording = await recordThroughInspector(inspect);
    } catch (error) {
      await stopChild(child); // no server left running behind a failed start
      throw error;
    }
  }
  const stop = async () => {
    await stopRecording();
    await stopChild(child);
  };
  return { name: variant ? `${runtime}:${variant}` : runtime, port, pid: child.pid!, mode: "ours", stop };
}

/** Records a CPU profile through the inspector at `address` until the returned function is called. */
async function recordThroughInspector(address: string): Promise<() => Promise<void>> {
  mkdirSync(opts.profile, { recursive: true });
  const out = join(opts.profile, `deno-${Date.now()}.cpuprofile`);
  const recorder = track(
    spawn(SERVER_COMMANDS.bun[0]!, ["bench/inspector-profile.ts", address, out], {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "inherit"],
    }),
  );
  recorder.stdin!.on("error", () => {}); // a recorder that died already: its exit says so
  const exited = new Promise<void>((resolve) => recorder.once("exit", () => resolve()));
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        recorder.once("exit", (code) => reject(new Error(`the profile recorder exited (${code})`)));
        createInterface({ input: recorder.stdout! }).on("line", (line) => line === "recording" && resolve());
      }),
      15_000,
      "profile recorder start",
    );
  } catch (error) {
    await stopChild(recorder);
    throw error;
  }
  return async () => {
    recorder.stdin!.end();
    await withTimeout(exited, 30_000, "profile recorder writing").catch(() => stopChild(recorder));
  };
}

function nchanMissing(): string | undefined {
  const nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => existsSync(p));
  if (!nginx) return "nginx is not installed";
  if (!existsSync(NCHAN_MODULE)) return `the Nchan module (${NCHAN_MODULE}) is not installed`;
  return undefined;
}

async function startNchan(): Promise<Target> {
  const nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => existsSync(p))!;
  const prefix = mkdtempSync(join(tmpdir(), "sse-bench-nchan-"));
  mkdirSync(join(prefix, "body"));
  const port = await freePort(HOST);
  const conf = readFileSync(join(ROOT, "bench/nchan.conf"), "utf8")
    .replaceAll("@PREFIX@", prefix)
    .replaceAll("@PORT@", String(port))
    .replaceAll("@MODULE@", NCHAN_MODULE);
  writeFileSync(join(prefix, "nginx.conf"), conf);
  const child = track(
    spawn(nginx, ["-p", prefix, "-e", join(prefix, "error.log"), "-c", join(prefix, "nginx.conf"), "-g", "daemon off;"], {
      stdio: ["ignore", "inherit", "inherit"],
    }),
  );
  const deadline = Date.now() + 10_000;
  let worker: number | undefined;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}); see ${prefix}/error.log`);
    worker = procChildren(child.pid!)[0];
    if (worker && (await fetch(`http://${HOST}:${port}/ping`).then((r) => r.ok, () => false))) break;
    await sleep(50);
  }
  if (!worker) throw new Error("nginx did not start");
  return {
    name: "nchan",
    port,
    pid: worker,
    mode: "nchan",
    stop: async () => {
      await stopChild(child, 3000);
      const w = worker!;
      if (existsSync(`/proc/${w}`)) process.kill(w, "SIGKILL");
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

function startTarget(name: TargetName): Promise<Target> {
  if (name === "nchan") return startNchan();
  const [runtime, variant] = name.split(":") as [Runtime, string | undefined];
  return startOurs(runtime, variant);
}

// ---- requests ------------------------------------------------------------------------

const branca = createBranca(Uint8Array.from(Buffer.from(SECRET_HEX, "hex")));

/** One request publishing `events` (ours: one signed batch; Nchan: one message, one channel). */
function publishRequest(t: Target, events: { topic: string; data: string }[]): PubRequest {
  if (t.mode === "nchan") {
    if (events.length !== 1) throw new Error("Nchan publishes one message per request");
    return { method: "POST", path: `/pub/${events[0]!.topic}`, body: events[0]!.data };
  }
  const token = branca.encode(encode({ events: events.map((e) => ({ topic: e.topic, event: "m", data: e.data })) }));
  return { method: "POST", path: "/submit", body: token };
}

// ---- scenarios -----------------------------------------------------------------------

type Metrics = Record<string, number>;

function splitCounts(n: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));
}

async function openStreams(
  t: Target,
  gens: LoadGenerator[],
  n: number,
  topics: (i: number) => string | undefined,
  shared?: string,
  prefixes = false,
) {
  const counts = splitCounts(n, gens.length);
  let offset = 0;
  const cpu0 = procCpuSplitMs(t.pid);
  const results = await Promise.all(
    gens.map((g, k) => {
      const from = offset;
      offset += counts[k]!;
      return g.call(
        "open",
        {
          target: { host: HOST, port: t.port, mode: t.mode, secretHex: SECRET_HEX },
          count: counts[k],
          topics: shared ?? Array.from({ length: counts[k]! }, (_, i) => topics(from + i)!),
          prefixes,
          window: 64,
          hello: 1,
        },
        300_000,
      );
    }),
  );
  const opened = results.reduce((s, r) => s + r.opened, 0);
  const t0 = Math.min(...results.map((r) => r.t0));
  const t1 = Math.max(...results.map((r) => r.t1));
  return {
    opened,
    failed: results.reduce((s, r) => s + r.failed, 0),
    ms: t1 - t0,
    ...cpuSince(t.pid, cpu0),
    genCpuMs: results.reduce((s, r) => s + r.genCpuMs, 0),
  };
}

/** CPU used by `pid` since `before` (from procCpuSplitMs): in all, and of it in the kernel. */
function cpuSince(pid: number, before: { userMs: number; kernelMs: number }): { serverCpuMs: number; serverKernelMs: number } {
  const now = procCpuSplitMs(pid);
  const serverKernelMs = now.kernelMs - before.kernelMs;
  return { serverCpuMs: now.userMs - before.userMs + serverKernelMs, serverKernelMs };
}

/** Arms every generator's goal (+add frames per stream) and returns the promise of all "reached". */
async function arm(gens: LoadGenerator[], add: number, times: boolean): Promise<{ all: Promise<any[]> }> {
  const notices = gens.map((g) => g.nextNotice());
  await Promise.all(gens.map((g) => g.call("expect", { add, times })));
  // (wrapped: an async function returning a promise would wait for it)
  return { all: Promise.all(notices) };
}

async function broadcast(t: Target, gens: LoadGenerator[], n: number, m: Metrics): Promise<void> {
  const client = new RawHttpClient(HOST, t.port, 1, 1);
  await client.ready();
  const lasts: number[] = [];
  const all: number[] = [];
  let lost = 0;
  const cpu0 = procCpuMs(t.pid);
  try {
    for (let b = 0; b < opts.broadcasts; b++) {
      const req = client.prepare(publishRequest(t, [{ topic: "bcast", data: `b${b}` }]));
      const reached = await arm(gens, 1, true);
      let sentAt = 0;
      const status = await client.request(req, () => (sentAt = nowMs()));
      if (status < 200 || status > 299) throw new Error(`broadcast publish answered ${status}`);
      const notices = await withTimeout(reached.all, 30_000, "broadcast delivery");
      for (const r of notices) {
        lost += r.lost;
        for (const at of r.times as number[]) all.push(at - sentAt);
      }
      lasts.push(Math.max(...notices.map((r) => r.last)) - sentAt);
      await sleep(100);
    }
  } finally {
    client.close();
  }
  all.sort((a, b) => a - b);
  m["broadcast.lastMs"] = median(lasts);
  m["broadcast.p50Ms"] = quantile(all, 0.5);
  m["broadcast.p99Ms"] = quantile(all, 0.99);
  m["broadcast.lost"] = lost;
  m["broadcast.serverCpuUsPerDelivery"] = ((procCpuMs(t.pid) - cpu0) * 1000) / (opts.broadcasts * n);
}

/** One fan-out step: `rate` events/s into one topic for the step duration. */
async function fanoutStep(t: Target, gens: LoadGenerator[], pub: LoadGenerator, n: number, rate: number) {
  const events = Math.max(5, Math.round((rate * opts.fanoutStepMs) / 1000));
  const durationMs = (events / rate) * 1000;
  const reached = await arm(gens, events, false);
  const cpu0 = procCpuMs(t.pid);
  const genCpu0 = (await Promise.all(gens.map((g) => g.cpuMs()))).reduce((a, b) => a + b, 0);
  const p = await pub.call(
    "pubRate",
    { host: HOST, port: t.port, connections: 8, depth: 1, request: publishRequest(t, [{ topic: "bcast", data: "f" }]), rate, durationMs },
    durationMs * 4 + 30_000,
  );
  const graceMs = 1000;
  const notices = await withTimeout(reached.all, Math.max(0, p.lastWrite + graceMs - nowMs()), "fan-out").catch(() => undefined);
  const cpuMs = procCpuMs(t.pid) - cpu0;
  const genCpu1 = (await Promise.all(gens.map((g) => g.cpuMs()))).reduce((a, b) => a + b, 0);
  const deliveries = events * n;
  const onTime = p.sent === events && p.lastWrite - p.t0 <= durationMs * 1.1 + 50;
  const last = notices ? Math.max(...notices.map((r) => r.last)) : NaN;
  const lost = notices ? notices.reduce((s, r) => s + r.lost, 0) : NaN;
  const pass = !!notices && onTime && p.non2xx === 0 && lost === 0;
  return {
    rate,
    events,
    pass,
    non2xx: p.non2xx as number,
    reached: !!notices,
    pubMs: p.lastWrite - p.t0,
    onTime,
    lost,
    deliveriesPerSec: pass ? deliveries / ((last - p.t0) / 1000) : NaN,
    lagMs: last - p.lastWrite,
    serverCpuUsPerDelivery: (cpuMs * 1000) / deliveries,
    genCpuUsPerDelivery: ((genCpu1 - genCpu0) * 1000) / deliveries,
    pubCpuMs: p.genCpuMs,
  };
}

async function fanout(t: Target, gens: LoadGenerator[], pub: LoadGenerator, n: number, m: Metrics, steps: unknown[]): Promise<void> {
  // Offered deliveries/s: 12.5k, 17.7k, 25k, 35k, 50k, 71k, 100k, ... (x sqrt 2) until a step fails.
  let best: Awaited<ReturnType<typeof fanoutStep>> | undefined;
  for (let k = 0; k < 16; k++) {
    const dps = Math.round(12_500 * Math.SQRT2 ** k);
    const s = await fanoutStep(t, gens, pub, n, dps / n);
    steps.push({ dps, ...s });
    log(`    fanout ${dps} d/s offered: ${s.pass ? "ok" : `FAIL (onTime ${s.onTime}, lost ${s.lost}, non2xx ${s.non2xx}, reached ${s.reached})`} lag ${s.lagMs.toFixed(0)} ms, server ${s.serverCpuUsPerDelivery.toFixed(2)} us/delivery, gens ${s.genCpuUsPerDelivery.toFixed(2)} us/delivery`);
    if (dps === 50_000) m["fanout.serverCpuUsPerDeliveryAt50k"] = s.serverCpuUsPerDelivery;
    if (!s.pass) break;
    best = s;
    await sleep(200);
  }
  m["fanout.deliveriesPerSec"] = best?.deliveriesPerSec ?? NaN;
  m["fanout.serverCpuUsPerDelivery"] = best?.serverCpuUsPerDelivery ?? NaN;
  m["fanout.genCpuUsPerDelivery"] = best?.genCpuUsPerDelivery ?? NaN;
}

/** `grant`: each stream's own topic `u<i>`, or its own prefix `u<i>/` with events to `u<i>/x`. */
async function manyTopics(t: Target, gens: LoadGenerator[], pub: LoadGenerator, n: number, m: Metrics, grant: "topics" | "prefixes" = "topics"): Promise<void> {
  const byPrefix = grant === "prefixes";
  const topic = byPrefix ? (i: number) => `u${i}/x` : (i: number) => `u${i}`;
  const o = byPrefix ? await openStreams(t, gens, n, (i) => `u${i}/`, undefined, true) : await openStreams(t, gens, n, topic);
  if (o.opened !== n) throw new Error(`${grant}: only ${o.opened}/${n} streams opened`);
  const requests: PubRequest[] = [];
  const batch = 1000; // SSE_MAX_EVENTS default
  if (t.mode === "nchan") for (let i = 0; i < n; i++) requests.push(publishRequest(t, [{ topic: topic(i), data: "t" }]));
  else
    for (let i = 0; i < n; i += batch)
      requests.push(
        publishRequest(
          t,
          Array.from({ length: Math.min(batch, n - i) }, (_, k) => ({ topic: topic(i + k), data: "t" })),
        ),
      );
  const rates: number[] = [];
  const cpus: number[] = [];
  for (let round = 0; round < 3; round++) {
    const reached = await arm(gens, 1, false);
    const cpu0 = procCpuMs(t.pid);
    const p = await pub.call("pubBatch", { host: HOST, port: t.port, connections: 8, depth: 1, requests }, 120_000);
    if (p.non2xx) throw new Error(`${grant}: ${p.non2xx} publishes failed`);
    const notices = await withTimeout(reached.all, 60_000, "many-topics delivery");
    const last = Math.max(...notices.map((r) => r.last));
    rates.push(n / ((last - p.t0) / 1000));
    cpus.push(((procCpuMs(t.pid) - cpu0) * 1000) / n);
    await sleep(200);
  }
  m[`${grant}.deliveriesPerSec`] = median(rates);
  m[`${grant}.serverCpuUsPerDelivery`] = median(cpus);
  await Promise.all(gens.map((g) => g.call("closeAll")));
}

/**
 * `cycles` connect / first frame / disconnect cycles, spread over the generators, 32 at a
 * time each (each connection from its own source address: bench/loadgen.ts).
 */
async function cycleStreams(t: Target, gens: LoadGenerator[], cycles: number) {
  const counts = splitCounts(cycles, gens.length);
  const rs = await Promise.all(
    gens.map((g, k) =>
      g.call(
        "churn",
        {
          target: { host: HOST, port: t.port, mode: t.mode, secretHex: SECRET_HEX },
          cycles: counts[k],
          concurrency: 32,
          topic: "churn",
          tokens: 2000,
          timeoutMs: 300_000,
        },
        330_000,
      ),
    ),
  );
  return {
    ok: rs.reduce((s, r) => s + r.ok, 0),
    failed: rs.reduce((s, r) => s + r.failed, 0),
    ms: Math.max(...rs.map((r) => r.t1)) - Math.min(...rs.map((r) => r.t0)),
    genCpuMs: rs.reduce((s, r) => s + r.genCpuMs, 0),
  };
}

/**
 * RSS once the server has had time to give memory back: the lowest of one reading a second
 * over 30 s. A runtime returns freed heap on its own schedule (Bun: 7-11 s after 100,000
 * cycles that took ~11 s, with RSS up to 25 % above its start meanwhile), so one early reading
 * says more about that schedule than about what is kept; what is kept never goes away.
 */
async function settledRss(pid: number): Promise<{ kb: number; ms: number; at3s: number }> {
  let lowest = { kb: Infinity, ms: 0 };
  let at3s = 0;
  for (let s = 1; s <= 30; s++) {
    await sleep(1000);
    const kb = procRssKb(pid);
    if (s === 3) at3s = kb;
    if (kb < lowest.kb) lowest = { kb, ms: s * 1000 };
  }
  return { ...lowest, at3s };
}

async function churn(t: Target, gens: LoadGenerator[], m: Metrics): Promise<void> {
  const run = (cycles: number) => cycleStreams(t, gens, cycles);
  await run(2000); // warm-up
  await sleep(2000);
  const rss0 = procRssKb(t.pid);
  const cpu0 = procCpuMs(t.pid);
  const r = await run(opts.churnCycles);
  m["churn.serverCpuUsPerCycle"] = ((procCpuMs(t.pid) - cpu0) * 1000) / opts.churnCycles;
  m["churn.genCpuUsPerCycle"] = (r.genCpuMs * 1000) / opts.churnCycles;
  const settled = await settledRss(t.pid);
  m["churn.rssAt3sKb"] = settled.at3s;
  m["churn.rssSettleMs"] = settled.ms;
  const rss1 = settled.kb;
  m["churn.cycles"] = r.ok;
  m["churn.failed"] = r.failed;
  m["churn.cyclesPerSec"] = r.ok / (r.ms / 1000);
  m["churn.rssBeforeKb"] = rss0;
  m["churn.rssAfterKb"] = rss1;
  m["churn.rssRatio"] = rss1 / rss0;
}

// ---- one run ---------------------------------------------------------------------------

const want = (s: string) => opts.scenarios.has(s);

async function runSize(name: TargetName, n: number): Promise<{ metrics: Metrics; fanoutSteps: unknown[] }> {
  const m: Metrics = {};
  const steps: unknown[] = [];
  const t = await startTarget(name);
  const gens = await startGens(Math.ceil(n / PER_GEN));
  const [pub] = await startGens(1);
  try {
    // Warm-up: a few streams first, so that first-use costs are not measured.
    await openStreams(t, gens, Math.min(n, 200), () => undefined, "warm");
    await Promise.all(gens.map((g) => g.call("closeAll")));
    await sleep(1000);
    // RSS is based before the cycles below: what they leave behind counts against the streams.
    const rss0 = procRssKb(t.pid);
    // A JIT compiles the connect path over the first ~15,000 opens (Bun: ~0.7 s of its
    // compiler threads' CPU): a one-time cost that would otherwise be timed as connect.
    if (opts.warmupCycles > 0) {
      const cpu0 = procCpuMs(t.pid);
      const w = await cycleStreams(t, gens, opts.warmupCycles);
      if (w.failed > 0) throw new Error(`warm-up: ${w.failed} of ${opts.warmupCycles} cycles failed`);
      m["warmup.cyclesPerSec"] = w.ok / (w.ms / 1000);
      m["warmup.serverCpuUsPerCycle"] = ((procCpuMs(t.pid) - cpu0) * 1000) / opts.warmupCycles;
      await sleep(1000);
    }
    if (want("connect") || want("memory") || want("broadcast") || want("fanout")) {
      const o = await openStreams(t, gens, n, () => undefined, "bcast");
      if (o.opened !== n) throw new Error(`connect: only ${o.opened}/${n} streams opened (${o.failed} failed)`);
      m["connect.perSec"] = n / (o.ms / 1000);
      m["connect.allOpenMs"] = o.ms;
      m["connect.serverCpuUsPerConn"] = (o.serverCpuMs * 1000) / n;
      m["connect.serverKernelUsPerConn"] = (o.serverKernelMs * 1000) / n;
      m["connect.genCpuMs"] = o.genCpuMs;
      await sleep(2000);
      m["memory.rssBaseKb"] = rss0;
      m["memory.rssKb"] = procRssKb(t.pid);
      m["memory.kbPerStream"] = (m["memory.rssKb"] - rss0) / n;
      if (want("broadcast")) await broadcast(t, gens, n, m);
      if (want("fanout")) await fanout(t, gens, pub!, n, m, steps);
      await Promise.all(gens.map((g) => g.call("closeAll")));
      await sleep(500);
    }
    if (want("topics")) await manyTopics(t, gens, pub!, n, m);
    if (want("prefixes") && t.mode !== "nchan") {
      await sleep(500);
      await manyTopics(t, gens, pub!, n, m, "prefixes");
    }
  } finally {
    for (const g of [...gens, pub!]) g.close();
    await t.stop();
  }
  return { metrics: m, fanoutSteps: steps };
}

async function runChurn(name: TargetName): Promise<Metrics> {
  const m: Metrics = {};
  const t = await startTarget(name);
  const gens = await startGens(4);
  try {
    await churn(t, gens, m);
  } finally {
    for (const g of gens) g.close();
    await t.stop();
  }
  return m;
}

// ---- main ----------------------------------------------------------------------------

interface RunRecord {
  target: TargetName;
  n: number | "churn";
  run: number;
  metrics: Metrics;
  fanoutSteps?: unknown[];
  error?: string;
}

function fmt(v: number, digits = 0): string {
  if (!Number.isFinite(v)) return "–";
  return v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

const COLUMNS: Array<[string, string, number]> = [
  ["connect.perSec", "connects/s", 0],
  ["connect.allOpenMs", "all open (ms)", 0],
  ["connect.serverCpuUsPerConn", "connect server CPU (us/conn)", 0],
  ["connect.serverKernelUsPerConn", "of it in the kernel (us/conn)", 0],
  ["warmup.serverCpuUsPerCycle", "warm-up server CPU (us/cycle)", 0],
  ["memory.kbPerStream", "RSS/stream (KB)", 2],
  ["broadcast.lastMs", "broadcast last (ms)", 1],
  ["broadcast.p50Ms", "broadcast p50 (ms)", 1],
  ["broadcast.p99Ms", "broadcast p99 (ms)", 1],
  ["fanout.deliveriesPerSec", "fan-out deliveries/s", 0],
  ["fanout.serverCpuUsPerDelivery", "fan-out server CPU at max (us/delivery)", 2],
  ["fanout.serverCpuUsPerDeliveryAt50k", "fan-out server CPU at 50k/s (us/delivery)", 2],
  ["topics.deliveriesPerSec", "many topics deliveries/s", 0],
  ["topics.serverCpuUsPerDelivery", "many topics server CPU (us/delivery)", 2],
  ["prefixes.deliveriesPerSec", "many prefixes deliveries/s", 0],
  ["prefixes.serverCpuUsPerDelivery", "many prefixes server CPU (us/delivery)", 2],
];
const CHURN_COLUMNS: Array<[string, string, number]> = [
  ["churn.cyclesPerSec", "cycles/s", 0],
  ["churn.rssBeforeKb", "RSS before (KB)", 0],
  ["churn.rssAt3sKb", "RSS 3 s after (KB)", 0],
  ["churn.rssAfterKb", "RSS after, settled (KB)", 0],
  ["churn.rssRatio", "after/before", 3],
  ["churn.failed", "failed cycles", 0],
  ["churn.serverCpuUsPerCycle", "server CPU (us/cycle)", 0],
  ["churn.genCpuUsPerCycle", "generator CPU (us/cycle)", 0],
];

function cell(records: RunRecord[], key: string, digits: number): string {
  const vs = records.map((r) => r.metrics[key]).filter((v): v is number => v !== undefined && Number.isFinite(v));
  if (vs.length === 0) return "–";
  const med = median(vs);
  if (vs.length === 1) return fmt(med, digits);
  return `${fmt(med, digits)} (${fmt(Math.min(...vs), digits)}–${fmt(Math.max(...vs), digits)})`;
}

function table(records: RunRecord[]): string {
  const lines: string[] = [];
  const sized = records.filter((r) => r.n !== "churn");
  const cols = COLUMNS.filter(([k]) => sized.some((r) => r.metrics[k] !== undefined));
  if (cols.length) {
    lines.push(`| N | server | ${cols.map((c) => c[1]).join(" | ")} |`);
    lines.push(`|---|---|${cols.map(() => "---:").join("|")}|`);
    for (const n of opts.ns)
      for (const target of opts.targets) {
        const rs = sized.filter((r) => r.n === n && r.target === target && !r.error && Object.keys(r.metrics).length > 0);
        if (!rs.length) continue;
        lines.push(`| ${fmt(n)} | ${target} | ${cols.map(([k, , d]) => cell(rs, k, d)).join(" | ")} |`);
      }
  }
  const churned = records.filter((r) => r.n === "churn" && !r.error);
  if (churned.length) {
    lines.push("", `Churn (${fmt(opts.churnCycles)} connect/disconnect cycles):`, "");
    lines.push(`| server | ${CHURN_COLUMNS.map((c) => c[1]).join(" | ")} |`);
    lines.push(`|---|${CHURN_COLUMNS.map(() => "---:").join("|")}|`);
    for (const target of opts.targets) {
      const rs = churned.filter((r) => r.target === target);
      if (rs.length) lines.push(`| ${target} | ${CHURN_COLUMNS.map(([k, , d]) => cell(rs, k, d)).join(" | ")} |`);
    }
  }
  const errors = records.filter((r) => r.error);
  if (errors.length) {
    lines.push("", "Failed runs:", "");
    for (const r of errors) lines.push(`- ${r.target} N=${r.n} run ${r.run}: ${r.error}`);
  }
  return lines.join("\n");
}

/** --report a.json,b.json: the table of earlier runs (their --json files), nothing run. */
function report(files: string[]): void {
  const records: RunRecord[] = files.flatMap((f) => (JSON.parse(readFileSync(f, "utf8")) as { records: RunRecord[] }).records);
  const order: TargetName[] = ["bun", "node", "deno", "nchan"];
  opts.targets = order.filter((t) => records.some((r) => r.target === t));
  opts.ns = [...new Set(records.map((r) => r.n).filter((n): n is number => typeof n === "number"))].sort((a, b) => a - b);
  const md = table(records);
  process.stdout.write(md + "\n");
  if (opts.md) writeFileSync(opts.md, md + "\n");
}

async function main(): Promise<void> {
  if (opts.report) return report(list(opts.report));
  const missing = nchanMissing();
  if (opts.targets.includes("nchan") && missing) {
    log(`Nchan skipped: ${missing}. Install it with: apt-get update && apt-get install nginx libnginx-mod-nchan`);
    opts.targets = opts.targets.filter((t) => t !== "nchan");
  }
  const records: RunRecord[] = [];
  const started = Date.now();
  const save = () => {
    if (opts.json) writeFileSync(opts.json, JSON.stringify({ options: { ...opts, scenarios: [...opts.scenarios] }, records }, null, 1));
  };
  const sized = ["connect", "memory", "broadcast", "fanout", "topics", "prefixes"].some(want);
  for (const n of sized ? opts.ns : [])
    for (let run = 1; run <= opts.runs; run++)
      for (const target of opts.targets) {
        log(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${target} N=${n} run ${run}`);
        try {
          const { metrics, fanoutSteps } = await runSize(target, n);
          records.push({ target, n, run, metrics, fanoutSteps });
          log(`  ${JSON.stringify(metrics)}`);
        } catch (e) {
          log(`  error: ${String(e)}`);
          records.push({ target, n, run, metrics: {}, error: String(e) });
        }
        save();
      }
  if (want("churn"))
    for (let run = 1; run <= opts.churnRuns; run++)
      for (const target of opts.targets) {
        log(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${target} churn run ${run}`);
        try {
          const metrics = await runChurn(target);
          records.push({ target, n: "churn", run, metrics });
          log(`  ${JSON.stringify(metrics)}`);
        } catch (e) {
          log(`  error: ${String(e)}`);
          records.push({ target, n: "churn", run, metrics: {}, error: String(e) });
        }
        save();
      }
  const md = table(records);
  process.stdout.write(md + "\n");
  if (opts.md) writeFileSync(opts.md, md + "\n");
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main().then(
  () => (killAll(), process.exit(0)),
  (e) => {
    log(String(e?.stack ?? e));
    killAll();
    process.exit(1);
  },
);

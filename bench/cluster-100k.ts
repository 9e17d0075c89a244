/**
 * 100,000 concurrent subscribers on one machine, through the Redis cluster layer:
 * one redis-server (no persistence, free loopback port), K Bun instances (each on its own
 * port, all with the same REDIS_URL), and load-generator processes (bench/loadgen.ts,
 * ≤ 4,500 streams each, each connection from its own 127.x.y.z source address) spread evenly over
 * the instances, every stream subscribed to one topic with its own Branca token.
 *
 * It reports the time until all N streams are open, total RSS (all server processes +
 * redis, VmRSS), then B broadcasts one at a time through `submit` to rotating instances:
 * per-delivery latency (p50/p99 over all B × N deliveries) and the time until the last of
 * the N streams has each broadcast (median and p99 over the B broadcasts).
 *
 * Run: npx tsx bench/cluster-100k.ts [--n 100000] [--instances 6] [--broadcasts 20]
 *        [--per-gen 4500] [--window 16] [--json out.json]
 * Everything on loopback; every loop bounded in count and time; everything started is
 * killed when it ends, also on error or a signal.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encode } from "@msgpack/msgpack";
import { createBranca } from "../src/token/branca.ts";
import { killAll, stopChild, track, trackDir } from "./cleanup.ts";
import { LoadGenerator, withTimeout } from "./generator.ts";
import { freePort, median, nowMs, procCpuMs, procRssKb, quantile, RawHttpClient, sleep } from "./lib.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUN = `${ROOT}node_modules/.bin/bun`;
const HOST = "127.0.0.1";
const SECRET_HEX = "3f1e0d2c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const TOPIC = "bcast";
const MAX_PER_INSTANCE = 18_000; // each process may hold at most 20,000 open files
const FD_MARGIN = 200; // files a process needs besides its streams

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const opts = {
  n: Number(option("n", "100000")),
  instances: Number(option("instances", "6")),
  broadcasts: Number(option("broadcasts", "20")),
  perGen: Number(option("per-gen", "4500")),
  window: Number(option("window", "16")),
  openTimeoutS: Number(option("open-timeout-s", "600")),
  json: option("json", ""),
};
if (!(opts.n > 0 && opts.instances > 0 && opts.broadcasts > 0 && opts.perGen > 0 && opts.perGen <= 4500))
  throw new Error("--n, --instances, --broadcasts must be > 0 and --per-gen 1..4500");
if (Math.ceil(opts.n / opts.instances) > MAX_PER_INSTANCE)
  throw new Error(`${opts.n} streams over ${opts.instances} instances is > ${MAX_PER_INSTANCE} per instance: add instances`);

const log = (...parts: unknown[]) => process.stderr.write(parts.join(" ") + "\n");
const t00 = nowMs();
const stamp = () => `[${((nowMs() - t00) / 1000).toFixed(1)} s]`;


/** The soft open-file limit of a running process, from /proc/<pid>/limits. */
function openFileLimit(pid: number): number {
  const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
  return !m ? NaN : m[1] === "unlimited" ? Infinity : Number(m[1]);
}
function requireFiles(pid: number, need: number, what: string): number {
  const limit = openFileLimit(pid);
  if (!(limit >= need)) throw new Error(`${what} (pid ${pid}) may open ${limit} files, needs ${need}: raise ulimit -n`);
  return limit;
}


// ---- redis ---------------------------------------------------------------------------

async function startRedis(): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort(HOST);
  const dir = mkdtempSync(join(tmpdir(), `sse-cluster100k-redis-${port}-`));
  trackDir(dir);
  const args = ["--bind", HOST, "--port", String(port), "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", dir];
  const child = track(spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] }));
  let output = "";
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (!output.includes("Ready to accept connections")) return;
        child.stdout!.off("data", onData);
        child.stdout!.resume();
        resolve();
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`redis-server exited (${code}): ${output}`)));
    }),
    10_000,
    "redis-server start",
  );
  return { port, child };
}

// ---- server instances -----------------------------------------------------------------

interface Instance {
  readonly port: number;
  readonly child: ChildProcess;
}

async function startInstance(redisUrl: string): Promise<Instance> {
  const port = await freePort(HOST);
  const child = track(
    spawn(BUN, ["src/entry/bun.ts"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "/tmp",
        SSE_SECRET: SECRET_HEX,
        PORT: String(port),
        HOST,
        REDIS_URL: redisUrl,
        LOG_LEVEL: "warn",
        NO_COLOR: "1",
        SSE_HEARTBEAT: "3600", // no heartbeat frames during a measurement
      },
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  let output = "";
  const keep = (c: Buffer) => (output = (output + c.toString()).slice(-4000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`instance on ${port} exited (${child.exitCode}): ${output}`);
    const ok = await fetch(`http://${HOST}:${port}/health/ready`).then(
      async (r) => (await r.arrayBuffer(), r.status === 200),
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`instance on ${port} not ready in 30 s: ${output}`);
    await sleep(100);
  }
  return { port, child };
}

// ---- load generators -----------------------------------------------------------------

/** A generator serving one instance (each of its connections from its own source address). */
class Gen extends LoadGenerator {
  constructor(
    readonly instance: number,
    readonly count: number,
  ) {
    super(track);
  }
}

function splitCounts(n: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));
}

// ---- the run -------------------------------------------------------------------------

const branca = createBranca(Uint8Array.from(Buffer.from(SECRET_HEX, "hex")));

async function main(): Promise<Record<string, unknown>> {
  const K = opts.instances;
  const perInstance = splitCounts(opts.n, K);
  const selfLimit = openFileLimit(process.pid);
  log(`${stamp()} N=${opts.n} over ${K} instances (${perInstance.join("/")}), ${opts.broadcasts} broadcasts; open-file limit here ${selfLimit}`);

  const redis = await startRedis();
  const redisUrl = `redis://${HOST}:${redis.port}`;
  log(`${stamp()} redis-server pid ${redis.child.pid} on ${redis.port}`);

  const instances = await Promise.all(perInstance.map(() => startInstance(redisUrl)));
  instances.forEach((inst, i) => requireFiles(inst.child.pid!, perInstance[i]! + FD_MARGIN, `instance ${i}`));
  log(`${stamp()} instances on ports ${instances.map((i) => i.port).join(", ")} (pids ${instances.map((i) => i.child.pid).join(", ")})`);

  const serverPids = [...instances.map((i) => i.child.pid!), redis.child.pid!];
  const rssKb = () => serverPids.reduce((s, pid) => s + procRssKb(pid), 0);
  const rssIdleKb = rssKb();
  const perInstanceRss = () => instances.map((i) => procRssKb(i.child.pid!));

  // Generators: ⌈count/perGen⌉ per instance, counts split evenly.
  const gens: Gen[] = [];
  perInstance.forEach((count, i) => {
    const parts = Math.ceil(count / opts.perGen);
    for (const c of splitCounts(count, parts)) gens.push(new Gen(i, c));
  });
  await withTimeout(Promise.all(gens.map((g) => g.ready)), 60_000, "load generators start");
  gens.forEach((g, k) => requireFiles(g.child.pid!, g.count + FD_MARGIN, `generator ${k}`));
  log(`${stamp()} ${gens.length} generators (${gens.map((g) => g.count).join("/")})`);

  // Open all N at once (every generator in parallel, `window` attempts in flight each).
  const cpuServers0 = serverPids.map(procCpuMs);
  const opened = await Promise.all(
    gens.map((g) =>
      g.call(
        "open",
        {
          target: { host: HOST, port: instances[g.instance]!.port, mode: "ours", secretHex: SECRET_HEX },
          count: g.count,
          topics: TOPIC,
          window: opts.window,
          hello: 1,
        },
        opts.openTimeoutS * 1000,
      ),
    ),
  );
  const openOk = opened.reduce((s, r) => s + r.opened, 0);
  const openFailed = opened.reduce((s, r) => s + r.failed, 0);
  const openBadStatus = opened.reduce((s, r) => s + r.badStatus, 0);
  const splitHeads = opened.reduce((s, r) => s + (r.splitHeads ?? 0), 0);
  const openMs = Math.max(...opened.map((r) => r.t1)) - Math.min(...opened.map((r) => r.t0));
  const openServerCpuMs = serverPids.map(procCpuMs).reduce((s, v, i) => s + v - cpuServers0[i]!, 0);
  const openGenCpuMs = opened.reduce((s, r) => s + r.genCpuMs, 0);
  log(`${stamp()} open: ${openOk} of ${opts.n} in ${(openMs / 1000).toFixed(1)} s (${Math.round(openOk / (openMs / 1000))}/s), failed ${openFailed} (non-2xx ${openBadStatus}), heads split over reads ${splitHeads}; server CPU ${(openServerCpuMs / 1000).toFixed(1)} s, generators ${(openGenCpuMs / 1000).toFixed(1)} s`);
  if (openBadStatus > 0) {
    // Why streams were refused: the servers' rejection counters (rejections log at info only).
    for (const inst of instances) {
      const text = await fetch(`http://${HOST}:${inst.port}/metrics`).then((r) => r.text(), (e) => String(e));
      const lines = text.split("\n").filter((l) => /reject/i.test(l) && !l.startsWith("#"));
      log(`    instance ${inst.port}: ${lines.join("; ")}`);
    }
  }
  if (openOk === 0) throw new Error("no stream opened");

  await sleep(2000); // let allocations settle before reading RSS
  const rssOpenKb = rssKb();
  const rssRedisKb = procRssKb(redis.child.pid!);
  const rssInstancesKb = perInstanceRss();
  const genStats = await Promise.all(gens.map((g) => g.call("stats")));
  const genRssKb = genStats.reduce((s, r) => s + r.rssKb, 0);
  const liveBefore = genStats.reduce((s, r) => s + r.live, 0);
  log(`${stamp()} RSS servers+redis ${(rssOpenKb / 1024).toFixed(0)} MiB (idle ${(rssIdleKb / 1024).toFixed(0)} MiB; redis ${(rssRedisKb / 1024).toFixed(1)} MiB; instances ${rssInstancesKb.map((k) => (k / 1024).toFixed(0)).join("/")} MiB); generators ${(genRssKb / 1024).toFixed(0)} MiB; live ${liveBefore}`);

  // Broadcasts, one at a time, to rotating instances.
  const clients = instances.map((i) => new RawHttpClient(HOST, i.port, 1, 1));
  const lats = new Float64Array(opts.broadcasts * liveBefore);
  let nLat = 0;
  const lasts: number[] = [];
  let lost = 0;
  let short = 0;
  const cpuB0 = serverPids.map(procCpuMs);
  const genCpuB0 = genStats.reduce((s, r) => s + r.cpuMs, 0);
  try {
    await Promise.all(clients.map((c) => c.ready()));
    for (let b = 0; b < opts.broadcasts; b++) {
      const via = b % K;
      const token = branca.encode(encode({ events: [{ topic: TOPIC, event: "m", data: `b${b}` }] }));
      const req = clients[via]!.prepare({ method: "POST", path: "/submit", body: token });
      const notices = gens.map((g) => g.nextNotice());
      await Promise.all(gens.map((g) => g.call("expect", { add: 1, times: true })));
      let sentAt = 0;
      const status = await clients[via]!.request(req, () => (sentAt = nowMs()));
      if (status < 200 || status > 299) throw new Error(`submit to instance ${via} answered ${status}`);
      const got = await withTimeout(Promise.all(notices), 60_000, `broadcast ${b} delivery`);
      let count = 0;
      for (const r of got) {
        lost += r.lost;
        count += r.count;
        for (const at of r.times as number[]) if (nLat < lats.length) lats[nLat++] = at - sentAt;
      }
      if (count < liveBefore) short += liveBefore - count;
      const last = Math.max(...got.map((r) => r.last)) - sentAt;
      lasts.push(last);
      log(`${stamp()}   broadcast ${b} via instance ${via}: ${count} streams, last ${last.toFixed(0)} ms`);
      await sleep(200);
    }
  } finally {
    for (const c of clients) c.close();
  }
  const bServerCpuMs = serverPids.map(procCpuMs).reduce((s, v, i) => s + v - cpuB0[i]!, 0);
  const genStats2 = await Promise.all(gens.map((g) => g.call("stats")));
  const bGenCpuMs = genStats2.reduce((s, r) => s + r.cpuMs, 0) - genCpuB0;
  const sorted = lats.subarray(0, nLat).sort();
  const lastsSorted = [...lasts].sort((a, b) => a - b);

  const result = {
    n: opts.n,
    instances: K,
    generators: gens.length,
    broadcasts: opts.broadcasts,
    perInstance,
    opened: openOk,
    openFailed,
    openBadStatus,
    splitHeads,
    openMs,
    connectsPerS: openOk / (openMs / 1000),
    openServerCpuMs,
    openGenCpuMs,
    rssIdleKb,
    rssOpenKb,
    rssRedisKb,
    rssInstancesKb,
    rssPerStreamKb: (rssOpenKb - rssIdleKb) / openOk,
    genRssKb,
    live: liveBefore,
    deliveries: nLat,
    lost,
    short,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    maxMs: sorted[sorted.length - 1],
    lastMedianMs: median(lasts),
    lastP99Ms: quantile(lastsSorted, 0.99),
    lastMaxMs: lastsSorted[lastsSorted.length - 1],
    lasts,
    broadcastServerCpuUsPerDelivery: (bServerCpuMs * 1000) / Math.max(1, nLat),
    broadcastGenCpuUsPerDelivery: (bGenCpuMs * 1000) / Math.max(1, nLat),
    fileLimits: { driver: selfLimit, instance: openFileLimit(instances[0]!.child.pid!), generator: openFileLimit(gens[0]!.child.pid!) },
  };

  // Orderly shutdown: generators first (their sockets), then instances, then redis.
  await Promise.all(gens.map((g) => g.call("closeAll", {}, 30_000).catch(() => undefined)));
  for (const g of gens) g.child.stdin!.end();
  await Promise.all(instances.map((i) => stopChild(i.child)));
  await stopChild(redis.child);
  return result;
}

main().then(
  (r) => {
    const f = (v: unknown, d = 0) => (typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }) : String(v));
    const { lasts, ...rest } = r as any;
    process.stdout.write(JSON.stringify({ ...rest, lasts: lasts.map((x: number) => Math.round(x)) }) + "\n");
    log(
      `\nN ${f(r.n)} over ${r.instances} instances, ${r.generators} generators: all open in ${f((r.openMs as number) / 1000, 1)} s; ` +
        `RSS servers+redis ${f((r.rssOpenKb as number) / 1024)} MiB (${f(r.rssPerStreamKb, 2)} KB/stream over idle); ` +
        `broadcast p50 ${f(r.p50Ms, 1)} ms, p99 ${f(r.p99Ms, 1)} ms, last-of-N median ${f(r.lastMedianMs, 1)} ms, p99 ${f(r.lastP99Ms, 1)} ms; lost ${r.lost}, short ${r.short}`,
    );
    if (opts.json) writeFileSync(opts.json, JSON.stringify(r, null, 1));
    killAll();
    process.exit(0);
  },
  (e) => {
    log(String(e?.stack ?? e));
    killAll();
    process.exit(1);
  },
);

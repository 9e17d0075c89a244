/**
 * Idle-stream cost per runtime and body variant (bench/stream-variants.ts): opens N
 * streams on raw sockets (64 attempts in flight), each counted as open once its head and
 * first frame have arrived, then reads the server's CPU (/proc/<pid>/stat) spent opening
 * them and its RSS growth 2 s later, per stream. The server is warmed up with 200 streams
 * first (`--warm`). Everything started is killed at the end.
 *
 *   npx tsx bench/idle-streams.ts --runtimes bun,node,deno --variants fixed,start,app --n 5000 [--warm 20000]
 */
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { encode } from "@msgpack/msgpack";
import { createBranca } from "../src/token/branca.ts";
import { procCpuMs, procRssKb, sleep } from "./lib.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = `${ROOT}node_modules/.bin`;
const SECRET_HEX = "3f1e0d2c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const COMMANDS: Record<string, string[]> = {
  bun: [`${BIN}/bun`, "bench/stream-variants.ts"],
  deno: [`${BIN}/deno`, "run", "-A", "bench/stream-variants.ts"],
  node: [process.execPath, "--import", "tsx", "bench/stream-variants.ts"],
};

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const runtimes = option("runtimes", "bun,node,deno").split(",");
const variants = option("variants", "fixed,start,app").split(",");
const n = Number(option("n", "5000"));
/** Streams opened and closed before measuring (in batches of 5,000), so that a JIT has settled. */
const warm = Number(option("warm", "200"));
const window = 64;
/** Extra V8 flags for the server (Node and Deno), e.g. `--trace-gc`; its output is echoed. */
const v8Flags = option("v8-flags", "");
/** With --perf DIR: `perf record` of the server while the N streams open, to DIR/<runtime>-<variant>.data. */
const perfDir = option("perf", "");

const children = new Set<ChildProcess>();
process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")));

async function start(runtime: string, variant: string): Promise<{ child: ChildProcess; port: number }> {
  const [cmd, ...rest] = COMMANDS[runtime]!;
  const flags = v8Flags ? (runtime === "deno" ? [`--v8-flags=${v8Flags}`] : runtime === "node" ? v8Flags.split(",") : []) : [];
  const args = runtime === "deno" ? [rest[0]!, ...flags, ...rest.slice(1)] : [...flags, ...rest];
  const child = spawn(cmd!, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      VARIANT: variant,
      SSE_SECRET: SECRET_HEX,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.add(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${runtime}/${variant} exited (${code})`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.startsWith('{"msg":"listening"')) resolve(JSON.parse(line).port);
      else if (v8Flags) process.stderr.write(`  [${runtime}] ${line}\n`);
    });
  });
  return { child, port };
}

const branca = createBranca(Uint8Array.from(Buffer.from(SECRET_HEX, "hex")));

/** Opens `count` streams; resolves with the sockets once every one has its first frame. */
async function open(port: number, paths: string[]): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  let next = 0;
  const one = (path: string) =>
    new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port }, () =>
        s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`),
      );
      sockets.push(s);
      let seen = "";
      s.on("data", (b: Buffer) => {
        if (seen === null) return;
        seen += b.toString("latin1");
        const head = seen.indexOf("\r\n\r\n");
        if (head >= 0 && seen.indexOf("\n\n", head + 4) >= 0) {
          if (!seen.startsWith("HTTP/1.1 2")) reject(new Error(seen.slice(0, 80)));
          seen = null as unknown as string;
          resolve();
        }
      });
      s.on("error", reject);
    });
  await Promise.all(
    Array.from({ length: Math.min(window, paths.length) }, async () => {
      while (next < paths.length) await one(paths[next++]!);
    }),
  );
  return sockets;
}

function paths(variant: string, count: number): string[] {
  if (variant !== "app") return Array.from({ length: count }, () => "/");
  return Array.from({ length: count }, (_, i) => `/events?token=${branca.encode(encode({ topics: [`t${i % 2}`] }))}`);
}

console.log("| runtime | variant | N | server CPU per open (µs) | RSS per stream (KB) |");
console.log("|---|---|---:|---:|---:|");
for (const runtime of runtimes)
  for (const variant of variants) {
    if (variant === "direct" && runtime !== "bun") continue;
    const { child, port } = await start(runtime, variant);
    try {
      for (let done = 0; done < warm; done += 5000) {
        const batch = await open(port, paths(variant, Math.min(5000, warm - done)));
        batch.forEach((s) => s.destroy());
      }
      const all = paths(variant, n);
      await sleep(1000);
      const rss0 = procRssKb(child.pid!);
      const perf = perfDir
        ? spawn("perf", ["record", "-F", "999", "-g", "-p", String(child.pid), "-o", `${perfDir}/${runtime}-${variant}.data`], {
            stdio: "ignore",
          })
        : undefined;
      if (perf) await sleep(500);
      const cpu0 = procCpuMs(child.pid!);
      const sockets = await open(port, all);
      const cpu = procCpuMs(child.pid!) - cpu0;
      if (perf) await new Promise((r) => (perf.once("exit", r), perf.kill("SIGINT")));
      await sleep(2000);
      const kb = (procRssKb(child.pid!) - rss0) / n;
      console.log(`| ${runtime} | ${variant} | ${n} | ${((cpu * 1000) / n).toFixed(0)} | ${kb.toFixed(2)} |`);
      sockets.forEach((s) => s.destroy());
    } finally {
      child.kill("SIGKILL");
      children.delete(child);
    }
  }
process.exit(0);

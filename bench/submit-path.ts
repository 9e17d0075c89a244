/**
 * What `POST submit` costs around its token, side by side (BENCHMARKS.md, "Submitting").
 * Starts, on free loopback ports, for each runtime: the real server (ours), a bare server
 * of the same runtime that reads the body and answers `OK`, and (`--naive`) a naive server
 * that verifies with the `branca` npm package and decodes msgpack (bench/submit-floors.ts);
 * with `--no-history`, the real server again with SSE_HISTORY_SIZE=0 (no event kept for
 * resuming), to show what the history, on by default, costs a submission; with
 * `--baseline DIR`, the server of another checkout too (DIR/src/entry/<runtime>.ts, with
 * its node_modules), to compare a change with the code before it in the same run; with
 * `--history-size N`, ours and the baseline keep N events per topic (SSE_HISTORY_SIZE).
 * wrk drives each in turn with `--conns` connections for `--seconds`, each request the
 * next of 2,000 distinct pre-minted tokens (bench/submit-path.lua), each a single-event
 * submission whose msgpack payload is 50 bytes; round after round, the order rotating.
 * Prints each measurement, then per server the median requests/s, its ratio to the bare
 * server of the same runtime (of the medians, and the median of each round's ratio), to
 * bare Bun, and the median server CPU per request (µs, from /proc: noise from other
 * processes on the machine moves it less). A measurement with any non-2xx answer or socket
 * error fails the run (a request wrk timed out is only reported).
 *
 *   npm run bench:submit -- [--runtimes bun,node,deno] [--naive bun] [--no-history bun] [--baseline DIR] [--history-size N] [--rounds 5]
 *                           [--seconds 5] [--conns 64] [--threads 2] [--out FILE]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encode } from "@msgpack/msgpack";
import { startServer, type RunningServer } from "../test/helpers/server.ts";
import { SERVER_COMMANDS, type Runtime } from "../test/helpers/runtimes.ts";
import { seal } from "../test/helpers/tokens.ts";
import { track, trackDir } from "./cleanup.ts";
import { median, procCpuMs, sleep } from "./lib.ts";

const { values: args } = parseArgs({
  options: {
    runtimes: { type: "string", default: "bun,node,deno" },
    naive: { type: "string", default: "bun" },
    "no-history": { type: "string", default: "bun" },
    baseline: { type: "string" },
    "history-size": { type: "string" },
    rounds: { type: "string", default: "5" },
    seconds: { type: "string", default: "5" },
    conns: { type: "string", default: "64" },
    threads: { type: "string", default: "2" },
    out: { type: "string" },
  },
});
const runtimes = args.runtimes.split(",").filter(Boolean) as Runtime[];
const naiveOn = new Set(args.naive.split(",").filter(Boolean));
const noHistoryOn = new Set(args["no-history"].split(",").filter(Boolean));
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
const TOKENS = 2000;
const PAYLOAD_BYTES = 50;
/** `--history-size N`: SSE_HISTORY_SIZE for ours and the baseline (else the default). */
const historyEnv: Record<string, string> = args["history-size"] === undefined ? {} : { SSE_HISTORY_SIZE: args["history-size"] };

const lines: string[] = [];
function print(line: string): void {
  console.log(line);
  lines.push(line);
  if (args.out) appendFileSync(args.out, line + "\n");
}
if (args.out) writeFileSync(args.out, "");

/** A single-event submission whose msgpack is exactly PAYLOAD_BYTES long, topic `t<i>`. */
function payload(i: number): Uint8Array {
  const event = { topic: `t${i}`, event: "m", data: "" };
  const bare = encode({ events: [event] }).length;
  const bytes = encode({ events: [{ ...event, data: "x".repeat(PAYLOAD_BYTES - bare) }] });
  if (bytes.length !== PAYLOAD_BYTES) throw new Error(`payload ${i} is ${bytes.length} bytes`);
  return bytes;
}

const dir = trackDir(mkdtempSync(join(tmpdir(), "submit-path-")));
const tokensFile = join(dir, "tokens.txt");
const tokens = Array.from({ length: TOKENS }, (_, i) => seal(payload(i)));
writeFileSync(tokensFile, tokens.join("\n") + "\n");

interface Target {
  readonly name: string;
  readonly runtime: Runtime;
  readonly kind: "ours" | "ours-nohistory" | "baseline" | "bare" | "naive";
  readonly server: RunningServer;
}

/** The runtime's server command with another script (the last argument) in place of the entry point. */
function commandWith(runtime: Runtime, script: string): string[] {
  const command = [...SERVER_COMMANDS[runtime]];
  command[command.length - 1] = script;
  return command;
}

async function start(runtime: Runtime, kind: Target["kind"]): Promise<Target> {
  const floor = kind === "bare" || kind === "naive";
  const server = await startServer(runtime, {
    env: floor ? { VARIANT: kind } : kind === "ours-nohistory" ? { SSE_HISTORY_SIZE: "0" } : historyEnv,
    ...(floor ? { command: commandWith(runtime, "bench/submit-floors.ts") } : {}),
    ...(kind === "baseline" ? { command: commandWith(runtime, `${args.baseline}/src/entry/${runtime}.ts`) } : {}),
  });
  track(server.process);
  return { name: `${runtime}:${kind}`, runtime, kind, server };
}

interface Measured {
  readonly requestsPerS: number;
  readonly cpuUsPerRequest: number;
  /** Requests wrk gave up on after its 2 s timeout (a loaded machine), reported, not failed. */
  readonly timeouts: number;
}

function wrk(target: Target, seconds: number, check = true): Measured {
  const pid = target.server.process.pid!;
  const cpu0 = procCpuMs(pid);
  const run = spawnSync(
    "wrk",
    [
      `-t${args.threads}`, `-c${args.conns}`, `-d${seconds}s`, "-s", "bench/submit-path.lua",
      `http://127.0.0.1:${target.server.port}/submit`, "--", tokensFile,
    ],
    { encoding: "utf8", timeout: (seconds + 30) * 1000 },
  );
  const cpuMs = procCpuMs(pid) - cpu0;
  if (run.status !== 0) throw new Error(`wrk failed on ${target.name}: ${run.stderr || run.error}`);
  const out = run.stdout;
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in/.exec(out);
  if (!rate || !total) throw new Error(`unreadable wrk output for ${target.name}:\n${out}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)?.slice(1).map(Number) ?? [0, 0, 0, 0];
  if (check && (/Non-2xx or 3xx responses/.test(out) || socket.slice(0, 3).some((n) => n > 0))) {
    throw new Error(`${target.name} answered with errors:\n${out}`);
  }
  return { requestsPerS: Number(rate[1]), cpuUsPerRequest: (cpuMs * 1000) / Number(total[1]), timeouts: socket[3]! };
}

const version = (command: string, flag = "--version") => spawnSync(command, [flag], { encoding: "utf8" }).stdout.trim().split("\n")[0];
print(
  `submit-path: ${ROUNDS} rounds × ${SECONDS} s, wrk -t${args.threads} -c${args.conns}, ${TOKENS} tokens ` +
    `of ${tokens[0]!.length} chars (${PAYLOAD_BYTES}-byte single-event payloads); ` +
    `bun ${version(SERVER_COMMANDS.bun[0]!)}, node ${version("node")}, ${version(SERVER_COMMANDS.deno[0]!)}, ${version("wrk", "-v")}`,
);

const targets: Target[] = [];
for (const runtime of runtimes) {
  for (const kind of ["ours", "baseline", "ours-nohistory", "bare", "naive"] as const) {
    if (kind === "baseline" && args.baseline === undefined) continue;
    if (kind === "naive" && !naiveOn.has(runtime)) continue;
    if (kind === "ours-nohistory" && !noHistoryOn.has(runtime)) continue;
    targets.push(await start(runtime, kind));
  }
}
// Every token is valid for each server (not a 401 counted as a request served).
for (const target of targets) {
  const answer = await fetch(`${target.server.url}/submit`, { method: "POST", body: tokens[0] });
  if (answer.status !== 200) throw new Error(`${target.name} answered ${answer.status} to a valid submission`);
}
for (const target of targets) wrk(target, 2, false); // warm-up (JIT), not counted
await sleep(500);

const results = new Map<string, Measured[]>(targets.map((t) => [t.name, []]));
for (let round = 0; round < ROUNDS; round++) {
  const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
  for (const target of order) {
    const m = wrk(target, SECONDS);
    results.get(target.name)!.push(m);
    print(`round ${round + 1} ${target.name.padEnd(18)} ${m.requestsPerS.toFixed(0).padStart(7)} req/s  ${m.cpuUsPerRequest.toFixed(1).padStart(5)} µs CPU/req${m.timeouts ? `  (${m.timeouts} timed out)` : ""}`);
  }
}

const rates = (name: string) => results.get(name)?.map((m) => m.requestsPerS) ?? [];
const medianRate = (name: string) => median(rates(name));
const medianCpu = (name: string) => median(results.get(name)?.map((m) => m.cpuUsPerRequest) ?? []);
/** Each round's ratio to the same runtime's bare server (measured close in time), median over rounds. */
const medianRoundRatio = (target: Target) => {
  const bare = rates(`${target.runtime}:bare`);
  return median(rates(target.name).map((rate, round) => rate / bare[round]!));
};
print("");
print("server               median req/s   × bare (same runtime)   per-round ratio   × bare Bun   server CPU µs/req");
for (const target of targets) {
  const rate = medianRate(target.name);
  print(
    `${target.name.padEnd(20)} ${rate.toFixed(0).padStart(12)}   ${(rate / medianRate(`${target.runtime}:bare`)).toFixed(2).padStart(21)}` +
      `   ${medianRoundRatio(target).toFixed(2).padStart(15)}   ${(rate / medianRate("bun:bare")).toFixed(2).padStart(10)}` +
      `   ${medianCpu(target.name).toFixed(1).padStart(17)}`,
  );
}
print("(medians over the rounds; per-round ratio: each round's ratio to its runtime's bare server, median)");
await Promise.all(targets.map((t) => t.server.stop()));
process.exit(0);

/**
 * The `sse-server` command: serve, and the tools around it (keygen, token, publish,
 * presence, listen, healthcheck, doctor). Runs under Bun (also as the compiled binary), Deno and Node.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { createParser } from "eventsource-parser";
import { SseClient, SseClientError } from "./client.ts";
import { diagnose, formatFindings, passed } from "./doctor.ts";
import { bytesToHex } from "./hex.ts";
import { probeHttpVersion } from "./listen/http-version.ts";
import { run, type Listen } from "./server.ts";
import type { SpawnTokenWorker } from "./token/offload.ts";

const USAGE = `Usage: sse-server <command> [options]

Commands:
  serve                      run the server (configured by environment variables; see README)
  keygen                     print a new random SSE_SECRET (64 hex characters)
  token --topics a,b         print a subscribe URL for these topics
        [--prefixes p/,q/]   and for every topic under these prefixes (--topics may then be left out)
        [--ttl SECONDS]      make it expire sooner than the server's SSE_TOKEN_TTL
  dashboard-url              print the live dashboard's URL with a fresh token
        [--ttl SECONDS]      its life (default 3600, at most SSE_TOKEN_TTL)
  publish --topic T [--event E] [--data D]
                             submit one event (retries while the server answers 503)
        [--id ID]            name the submission: the same id is delivered once per SSE_IDEMPOTENCY_TTL
  presence --topics a,b      print the open streams per topic over every live instance, and the
                             number of instances, as one JSON line
  listen --topics a,b        subscribe and print each event as a JSON line (for debugging)
        [--prefixes p/,q/]   also every topic under these prefixes
  healthcheck                exit 0 if the server answers /health/live (for containers)
  doctor --url URL           check the path to the server (proxy, CDN) for event streams:
                             buffering, compression, heartbeats, idle cuts, resume; exit 1 on a problem
        [--idle SECONDS]     how long to watch an idle stream (default 20)
        [--json]             print the findings as JSON

Options for token, dashboard-url, publish, presence, listen, healthcheck, doctor:
  --url URL                  the server, base path included
                             (default: $SSE_URL, else http://127.0.0.1:$PORT$BASE_PATH)
  token, dashboard-url, publish, presence and doctor read the key from $SSE_SECRET.

Exit codes: 0 success, 1 failure (message on stderr), 2 bad usage.`;

class UsageError extends Error {}

const OPTIONS = {
  topics: { type: "string" },
  prefixes: { type: "string" },
  topic: { type: "string" },
  event: { type: "string", default: "" },
  data: { type: "string", default: "" },
  ttl: { type: "string" },
  id: { type: "string" },
  url: { type: "string" },
  idle: { type: "string", default: "20" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h" },
} as const;

type Options = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

export async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true });
  } catch (error) {
    return usage(String((error as Error).message));
  }
  const [command, ...rest] = parsed.positionals;
  const options = parsed.values;
  if (options.help || command === "help") {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  if (command === undefined) {
    process.stderr.write(USAGE + "\n");
    return 2;
  }
  if (rest.length > 0) return usage(`unexpected argument: ${rest[0]}`);
  try {
    switch (command) {
      case "serve":
        await run(process.env, await listenForThisRuntime(), await tokenWorkerForThisRuntime());
        return -1; // keeps running; the server exits the process itself
      case "keygen":
        process.stdout.write(bytesToHex(crypto.getRandomValues(new Uint8Array(32))) + "\n");
        return 0;
      case "token":
        process.stdout.write(subscribeUrl(options) + "\n");
        return 0;
      case "dashboard-url":
        process.stdout.write(client(options).dashboardUrl({ timestamp: backdatedFor(options.ttl, DASHBOARD_TTL_SECONDS) }) + "\n");
        return 0;
      case "publish":
        process.stdout.write(`${await publish(options)}\n`);
        return 0;
      case "presence":
        process.stdout.write(`${await presence(options)}\n`);
        return 0;
      case "listen":
        return await listen(options);
      case "healthcheck":
        return await healthcheck(options);
      case "doctor":
        return await doctor(options);
      default:
        return usage(`unknown command: ${command}`);
    }
  } catch (error) {
    if (error instanceof UsageError) return usage(error.message);
    process.stderr.write(`sse-server ${command}: ${(error as Error).message}\n`);
    return 1;
  }
}

function usage(message: string): number {
  process.stderr.write(`sse-server: ${message}\nRun 'sse-server --help' for usage.\n`);
  return 2;
}

function serverUrl(options: Options): string {
  if (options.url) return options.url;
  if (process.env.SSE_URL) return process.env.SSE_URL;
  const base = (process.env.BASE_PATH ?? "/").replace(/\/+$/, "");
  return `http://127.0.0.1:${process.env.PORT || "8000"}${base}`;
}

function client(options: Options): SseClient {
  const secret = process.env.SSE_SECRET;
  if (!secret) throw new UsageError("SSE_SECRET is not set");
  return new SseClient({ url: serverUrl(options), secret });
}

const list = (value: string | undefined) => (value ?? "").split(",").map((t) => t.trim()).filter(Boolean);

function topicsOf(options: Options): string[] {
  const topics = list(options.topics);
  if (topics.length === 0) throw new UsageError("--topics needs at least one topic (comma-separated)");
  return topics;
}

function grantsOf(options: Options): { topics: string[]; prefixes: string[] } {
  const topics = list(options.topics);
  const prefixes = list(options.prefixes);
  if (topics.length + prefixes.length === 0) {
    throw new UsageError("--topics needs at least one topic (comma-separated), unless --prefixes names a prefix");
  }
  return { topics, prefixes };
}

function subscribeUrl(options: Options): string {
  const { topics, prefixes } = grantsOf(options);
  return client(options).subscribeUrl(topics, { timestamp: backdatedFor(options.ttl), prefixes });
}

/** A dashboard link's default life: an hour (or SSE_TOKEN_TTL, if shorter). */
const DASHBOARD_TTL_SECONDS = 3600;

/**
 * Branca has no expiry field: a token lives `ttl` seconds when its timestamp is set back
 * by the rest of the server's SSE_TOKEN_TTL (read from the environment, default 86400).
 * `--ttl` over that TTL is a usage error; without it, `defaultTtl` (capped at that TTL),
 * else the full TTL (undefined: a timestamp of now).
 */
function backdatedFor(ttlOption: string | undefined, defaultTtl?: number): number | undefined {
  const serverTtl = Number(process.env.SSE_TOKEN_TTL || 86400);
  const ttl = ttlOption === undefined ? Math.min(defaultTtl ?? serverTtl, serverTtl) : Number(ttlOption);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > serverTtl) {
    throw new UsageError(`--ttl must be a whole number of seconds from 1 to ${serverTtl} (SSE_TOKEN_TTL)`);
  }
  return ttl === serverTtl ? undefined : Math.floor(Date.now() / 1000) - (serverTtl - ttl);
}

/** Returns the line that says it worked. */
async function publish(options: Options): Promise<string> {
  if (!options.topic) throw new UsageError("--topic is required");
  try {
    await client(options).publish({ topic: options.topic, event: options.event, data: options.data }, { id: options.id });
    return `published 1 event to topic ${options.topic}`;
  } catch (error) {
    if (error instanceof SseClientError) throw new Error(error.message);
    throw error;
  }
}

/** The server's answer as one JSON line: `{"topics":{"a":2,"b":0},"instances":3}`. */
async function presence(options: Options): Promise<string> {
  try {
    return JSON.stringify(await client(options).presence(topicsOf(options)));
  } catch (error) {
    if (error instanceof SseClientError) throw new Error(error.message);
    throw error;
  }
}

/** Prints each event as a JSON line until the stream ends (exit 1) or the process is stopped. */
async function listen(options: Options): Promise<number> {
  const url = subscribeUrl(options);
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`events answered ${res.status}: ${(await res.text()).trim()}`);
  const { topics, prefixes } = grantsOf(options);
  process.stderr.write(`listening to ${[...topics, ...prefixes.map((p) => `${p}*`)].join(", ")}; stop with Ctrl-C\n`);
  const print = (event: string, data: string, id?: string) =>
    process.stdout.write(JSON.stringify({ event, data, ...(id ? { id } : {}) }) + "\n");
  const parser = createParser({ onEvent: (m) => print(m.event ?? "message", m.data, m.id) });
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  process.stderr.write("stream ended by the server\n");
  return 1;
}

async function healthcheck(options: Options): Promise<number> {
  const url = `${serverUrl(options).replace(/\/+$/, "")}/health/live`;
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) }).catch((error: unknown) => {
    throw new Error(`${url}: ${(error as Error).message}`);
  });
  await res.text();
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  process.stdout.write(`live: ${url} answered ${res.status}\n`);
  return 0;
}

/** Prints the findings (lines, or JSON with --json); exits 0 only when none failed. */
async function doctor(options: Options): Promise<number> {
  const idleSeconds = Number(options.idle);
  if (!Number.isFinite(idleSeconds) || idleSeconds < 0 || idleSeconds > 3600) {
    throw new UsageError("--idle must be a number of seconds from 0 to 3600");
  }
  const url = new URL(serverUrl(options));
  const findings = await diagnose({ client: client(options), idleSeconds, httpVersion: () => probeHttpVersion(url) });
  const ok = passed(findings);
  process.stdout.write((options.json ? JSON.stringify({ url: serverUrl(options), ok, findings }) : formatFindings(findings)) + "\n");
  return ok ? 0 : 1;
}

/** The one place the CLI looks at which runtime it is on: to pick the HTTP listener. */
async function listenForThisRuntime(): Promise<Listen> {
  if ("Bun" in globalThis) return (await import("./listen/bun.ts")).listenWithBun;
  if ("Deno" in globalThis) {
    // A computed specifier: type checkers for Node and Bun do not know the Deno namespace.
    const denoListener: string = "./listen/deno.ts";
    return ((await import(denoListener)) as { listenWithDeno: Listen }).listenWithDeno;
  }
  return (await import("./listen/node.ts")).listenWithNode;
}

/**
 * The token-verification worker for this runtime. The Web Worker's URL is resolved here,
 * next to the entry point: inside the compiled binary, `npm run build` stores the worker
 * module as `entry/token-worker` relative to this file.
 */
async function tokenWorkerForThisRuntime(): Promise<SpawnTokenWorker> {
  if ("Bun" in globalThis || "Deno" in globalThis) {
    return (await import("./listen/web-worker.ts")).spawnWebWorker(new URL("./entry/token-worker.ts", import.meta.url));
  }
  return (await import("./listen/node-worker.ts")).spawnNodeWorker;
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);

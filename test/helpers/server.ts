/**
 * Starts the real server as a subprocess under a chosen runtime, on a free loopback port
 * (PORT=0; the port is read from the server's "listening" log line).
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { runProcess, spawnProcess, waitForOutput, type ProcessResult } from "./process.ts";
import { SERVER_COMMANDS, SERVER_KINDS, type Runtime, type ServerKind } from "./runtimes.ts";
import { SECRET_HEX } from "./tokens.ts";

export { ALL_SERVERS, NODE, ROOT, RUNTIMES, SERVER_COMMANDS, SERVER_KINDS, SERVERS, type Runtime, type ServerKind } from "./runtimes.ts";

export interface RunningServer {
  readonly runtime: ServerKind;
  readonly port: number;
  /** Origin plus base path, without a trailing slash: `http://127.0.0.1:1234/sse-server`. */
  readonly url: string;
  readonly process: ChildProcess;
  /** Every stdout line so far (JSON logs). */
  readonly logs: readonly string[];
  readonly stderr: () => string;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  /** Sends a signal and waits for the exit (SIGKILL after `graceMs`). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string>;
}

export interface StartOptions {
  readonly env?: Record<string, string>;
  readonly basePath?: string;
  readonly timeoutMs?: number;
  /** Another command that serves the same way (e.g. the compiled binary). */
  readonly command?: readonly string[];
  /**
   * Run in a process group of its own and signal the whole group, as a terminal's job
   * control does: for wrappers (npm, deno task) that leave the server behind a shell.
   */
  readonly processGroup?: boolean;
}

export async function startServer(runtime: ServerKind, options: StartOptions = {}): Promise<RunningServer> {
  const kind = SERVER_KINDS[runtime];
  const spawned = spawnProcess(options.command ?? SERVER_COMMANDS[kind.runtime], {
    processGroup: options.processGroup,
    env: {
      SSE_SECRET: SECRET_HEX,
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      ...kind.env,
      ...(options.basePath !== undefined ? { BASE_PATH: options.basePath } : {}),
      ...options.env,
    },
  });
  const { child } = spawned;
  const logs: string[] = [];
  let stderr = "";
  let partial = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop()!;
    logs.push(...lines);
  });
  const port = await waitForOutput(
    spawned,
    () => logs.map(listeningPort).find((p) => p !== undefined),
    `${runtime} server`,
    options.timeoutMs,
  );
  const base = (options.basePath ?? "/").replace(/\/+$/, "");
  return {
    runtime,
    port,
    url: `http://127.0.0.1:${port}${base}`,
    process: child,
    logs,
    stderr: () => stderr,
    exited: spawned.exited,
    stop: spawned.stop,
  };
}

function listeningPort(line: string): number | undefined {
  if (!line.includes('"listening"')) return undefined;
  try {
    const entry = JSON.parse(line) as { msg?: string; port?: number };
    return entry.msg === "listening" ? entry.port : undefined;
  } catch {
    return undefined;
  }
}

export { runProcess, type ProcessResult } from "./process.ts";

/** Runs the server command to completion (for start-up failures). */
export function runToExit(runtime: Runtime, env: Record<string, string>, timeoutMs = 20_000): Promise<ProcessResult> {
  const [command, ...args] = SERVER_COMMANDS[runtime];
  return runProcess(command!, args, env, timeoutMs);
}

/** POSTs a raw body to `submit`. */
export function postSubmit(server: RunningServer, body: BodyInit, init: RequestInit = {}): Promise<Response> {
  return fetch(`${server.url}/submit`, { method: "POST", body, ...init });
}

/** POSTs a raw body to `presence`. */
export function postPresence(server: RunningServer, body: BodyInit): Promise<Response> {
  return fetch(`${server.url}/presence`, { method: "POST", body });
}

/** Asks `presence` with `token`; fails unless answered 200. */
export async function presenceOf(server: RunningServer, token: string): Promise<{ topics: Record<string, number>; instances: number }> {
  const response = await postPresence(server, token);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`presence answered ${response.status}: ${text}`);
  return JSON.parse(text) as { topics: Record<string, number>; instances: number };
}

/** A metric's value from `GET /metrics`; `series` is its name with any labels, as exposed. 0 if absent. */
export async function metric(server: RunningServer, series: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** The URL of a stream for a token. */
export const eventsUrl = (server: RunningServer, token: string) =>
  `${server.url}/events?token=${encodeURIComponent(token)}`;

/** A dashboard route (`dashboard`, `dashboard/stream`, ...) with a token, and more query if given. */
export const dashboardUrl = (server: RunningServer, route: string, token: string, query = "") =>
  `${server.url}/${route}?token=${encodeURIComponent(token)}${query}`;

/** Polls the server's JSON logs until one matches, or fails after `timeoutMs`. */
export async function waitForLog(
  server: RunningServer,
  match: (entry: Record<string, unknown>) => boolean,
  { from = 0, timeoutMs = 5000 }: { from?: number; timeoutMs?: number } = {},
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const line of server.logs.slice(from)) {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (match(entry)) return entry;
      } catch {
        // not a JSON line
      }
    }
    if (Date.now() > deadline) throw new Error(`no matching log line; logs:\n${server.logs.join("\n")}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The server answers, is still running, and has logged no unexpected error. */
export async function expectHealthy(server: RunningServer): Promise<void> {
  const ping = await fetch(`${server.url}/ping`);
  if (ping.status !== 200) throw new Error(`ping answered ${ping.status}`);
  if (server.process.exitCode !== null) throw new Error("server exited");
  const errors = server.logs.filter((l) => l.includes('"level":"error"'));
  if (errors.length > 0) throw new Error(`server logged errors:\n${errors.join("\n")}`);
  if (/unhandled|uncaught/i.test(server.stderr())) throw new Error(`stderr: ${server.stderr()}`);
}

/** Which runtime a server process really is (by its own /proc entry), to catch a wrong command. */
export function runtimeOf(server: RunningServer): string {
  return readFileSync(`/proc/${server.process.pid}/comm`, "utf8").trim();
}

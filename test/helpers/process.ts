/**
 * Child processes for tests: spawned from the repo root with a minimal environment,
 * stopped with a grace period, and waited on until their output says they are ready.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { ROOT } from "./runtimes.ts";

export interface Spawned {
  readonly child: ChildProcess;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  /** Sends a signal (to the whole group, with `processGroup`) and waits for the exit; SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string>;
}

export interface SpawnOptions {
  /** Added to PATH, HOME and NO_COLOR. */
  readonly env?: Record<string, string>;
  /**
   * Run in a process group of its own and signal the whole group, as a terminal's job
   * control does: for wrappers (npm, deno task) that leave the real process behind a shell.
   */
  readonly processGroup?: boolean;
}

export function spawnProcess(command: readonly string[], options: SpawnOptions = {}): Spawned {
  const [program, ...args] = command;
  const child = spawn(program!, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.processGroup ?? false,
  });
  const signal = (name: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (options.processGroup) process.kill(-child.pid!, name);
    else child.kill(name);
  };
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, name) => resolve(code ?? name ?? -1)),
  );
  return {
    child,
    exited,
    async stop(name = "SIGTERM", graceMs = 5000) {
      signal(name);
      const kill = setTimeout(() => signal("SIGKILL"), graceMs);
      const code = await exited;
      clearTimeout(kill);
      return code;
    },
  };
}

/**
 * Resolves with what `ready` finds in the process's output (stdout and stderr as they
 * come); rejects, killing the process, if it exits first or `timeoutMs` passes.
 */
export function waitForOutput<T>(
  spawned: Spawned,
  ready: (output: string) => T | undefined,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void spawned.stop("SIGKILL");
      reject(new Error(`${what} not ready in time; output:\n${output}`));
    }, timeoutMs);
    void spawned.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before it was ready; output:\n${output}`));
    });
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      const found = ready(output);
      if (found === undefined) return;
      clearTimeout(timer);
      resolve(found);
    };
    spawned.child.stdout!.on("data", collect);
    spawned.child.stderr!.on("data", collect);
  });
}

/** Runs a command to completion (killed after `timeoutMs`). */
export async function runProcess(
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<ProcessResult> {
  const spawned = spawnProcess([command, ...args], { env });
  let stdout = "";
  let stderr = "";
  spawned.child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  spawned.child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => void spawned.stop("SIGKILL"), timeoutMs);
  const code = await spawned.exited;
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export interface ProcessResult {
  readonly code: number | string;
  readonly stdout: string;
  readonly stderr: string;
}

/** A proxy (nginx, Caddy) that a test started, answering at `url`. */
export interface RunningProxy {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Waits (10 s at most) until `spawned` answers HTTP at `probe`; then it is a RunningProxy
 * whose stop also removes its temp `dir`. A process that exits first fails with `config`.
 */
export async function whenAnswering(
  name: string,
  spawned: Spawned,
  url: string,
  probe: string,
  dir: string,
  config: string,
): Promise<RunningProxy> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (spawned.child.exitCode !== null) throw new Error(`${name} exited at start; config:\n${config}`);
    const up = await fetch(probe).then((r) => r.text().then(() => true), () => false);
    if (up) break;
    if (Date.now() > deadline) throw new Error(`${name} did not answer in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    async stop() {
      await spawned.stop("SIGTERM", 3000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

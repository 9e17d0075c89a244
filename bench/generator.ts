/**
 * The load-generator processes (bench/loadgen.ts) as the drivers see them: spawned, then
 * driven by JSON-line commands on stdin, with replies and notices on stdout.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Each generator gets its own block of source addresses (bench/loadgen.ts); this run's start at random. */
let nextSourceBlock = Math.floor(Math.random() * 240);

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e) => (clearTimeout(t), reject(e)),
    );
  });
}

/** One load-generator process. `onSpawn` lets a driver track the child for cleanup. */
export class LoadGenerator {
  readonly child: ChildProcess;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  readonly #listeners: Array<(msg: any) => void> = [];
  readonly ready: Promise<void>;

  constructor(onSpawn: (child: ChildProcess) => void = () => {}) {
    this.child = spawn(process.execPath, ["--import", "tsx", "bench/loadgen.ts"], {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "inherit"],
      env: { ...process.env, LOADGEN_SOURCE_BLOCK: String(nextSourceBlock++ % 240) },
    });
    onSpawn(this.child);
    let markReady!: () => void;
    this.ready = new Promise((r) => (markReady = r));
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      let msg: any;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (msg.ev === "ready") return markReady();
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.ok) p?.resolve(msg);
        else p?.reject(new Error(`loadgen: ${msg.error}`));
      } else for (const l of this.#listeners.splice(0)) l(msg);
    });
    this.child.on("exit", (code) => {
      for (const p of this.#pending.values()) p.reject(new Error(`loadgen exited (${code})`));
      this.#pending.clear();
    });
  }

  call(cmd: string, args: unknown = {}, timeoutMs = 120_000): Promise<any> {
    const id = this.#nextId++;
    const p = new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.child.stdin!.write(JSON.stringify({ id, cmd, args }) + "\n");
    return withTimeout(p, timeoutMs, `loadgen ${cmd}`);
  }

  /** The next unsolicited notice (e.g. "reached"). Register before triggering it. */
  nextNotice(): Promise<any> {
    return new Promise((r) => this.#listeners.push(r));
  }

  cpuMs(): Promise<number> {
    return this.call("stats").then((m) => m.cpuMs as number);
  }

  close(): void {
    this.child.stdin!.end();
    setTimeout(() => this.child.kill("SIGKILL"), 2000).unref();
  }
}

/**
 * Shared pieces of the benchmark: a monotonic clock that every bench process reads the
 * same way (CLOCK_MONOTONIC via process.hrtime, so times from the driver and from the
 * load generators can be subtracted), /proc readings, and a minimal raw HTTP/1.1
 * keep-alive client for publishing (no HTTP library per request).
 */
import net from "node:net";
import { readFileSync } from "node:fs";

/** Milliseconds on CLOCK_MONOTONIC, shared by all processes on this machine. */
export function nowMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const TICKS = 100; // USER_HZ on Linux

/** utime + stime of a process, in ms, from /proc/<pid>/stat. */
export function procCpuMs(pid: number): number {
  const { userMs, kernelMs } = procCpuSplitMs(pid);
  return userMs + kernelMs;
}

/** CPU time a process has used so far, in user space and in the kernel, in ms. */
export function procCpuSplitMs(pid: number): { userMs: number; kernelMs: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is state (field 3); utime is field 14, stime 15
  return { userMs: (Number(fields[11]) * 1000) / TICKS, kernelMs: (Number(fields[12]) * 1000) / TICKS };
}

/** VmRSS of a process in KiB. */
export function procRssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) : NaN;
}

/** Direct children of a process (Linux). */
export function procChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export function median(values: readonly number[]): number {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface PubRequest {
  readonly method: "POST" | "GET";
  readonly path: string;
  readonly body?: string;
}

interface Pending {
  resolve: (status: number) => void;
  reject: (e: Error) => void;
}

/**
 * One keep-alive HTTP/1.1 connection, requests answered in order. With `depth` > 1 the
 * requests are pipelined. Understands Content-Length and chunked responses.
 */
class RawConnection {
  readonly #socket: net.Socket;
  readonly #pending: Pending[] = [];
  #buf: Buffer = Buffer.alloc(0);
  readonly ready: Promise<void>;
  closed = false;

  constructor(host: string, port: number) {
    this.#socket = net.connect({ host, port });
    this.#socket.setNoDelay(true);
    this.ready = new Promise((resolve, reject) => {
      this.#socket.once("connect", () => resolve());
      this.#socket.once("error", reject);
    });
    this.#socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    this.#socket.on("error", () => {});
    this.#socket.on("close", () => {
      this.closed = true;
      for (const p of this.#pending.splice(0)) p.reject(new Error("publisher connection closed"));
    });
  }

  get inflight(): number {
    return this.#pending.length;
  }

  send(head: string, body: Buffer | undefined): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#socket.write(body ? Buffer.concat([Buffer.from(head, "latin1"), body]) : head);
    });
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    for (;;) {
      const end = this.#buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = this.#buf.toString("latin1", 0, end);
      const status = Number(head.slice(9, 12));
      let consumed: number;
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (cl) {
        consumed = end + 4 + Number(cl[1]);
        if (this.#buf.length < consumed) return;
      } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        let pos = end + 4;
        for (;;) {
          const lineEnd = this.#buf.indexOf("\r\n", pos);
          if (lineEnd < 0) return;
          const size = parseInt(this.#buf.toString("latin1", pos, lineEnd), 16);
          pos = lineEnd + 2 + size + 2;
          if (pos > this.#buf.length) return;
          if (size === 0) break;
        }
        consumed = pos;
      } else {
        consumed = end + 4; // no body (e.g. 204)
      }
      this.#buf = this.#buf.subarray(consumed);
      this.#pending.shift()?.resolve(status);
    }
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** A small pool of keep-alive connections; each request goes to the least busy one. */
export class RawHttpClient {
  readonly #conns: RawConnection[];
  readonly #host: string;
  readonly #port: number;
  readonly #depth: number;
  readonly #waiting: Array<() => void> = [];

  constructor(host: string, port: number, connections = 1, depth = 1) {
    this.#host = host;
    this.#port = port;
    this.#depth = depth;
    this.#conns = Array.from({ length: connections }, () => new RawConnection(host, port));
  }

  async ready(): Promise<void> {
    await Promise.all(this.#conns.map((c) => c.ready));
  }

  /** Builds the bytes of a request once, to be sent many times. */
  prepare(req: PubRequest): { head: string; body: Buffer | undefined } {
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    const head =
      `${req.method} ${req.path} HTTP/1.1\r\nHost: ${this.#host}:${this.#port}\r\n` +
      (body ? `Content-Type: text/plain\r\nContent-Length: ${body.length}\r\n` : "") +
      "\r\n";
    return { head, body };
  }

  /** Sends as soon as a connection has room; `onWrite` is called right before the bytes go out. */
  async request(prepared: { head: string; body: Buffer | undefined }, onWrite?: () => void): Promise<number> {
    for (let guard = 0; guard < 1e7; guard++) {
      let best: RawConnection | undefined;
      for (const c of this.#conns) if (!c.closed && (!best || c.inflight < best.inflight)) best = c;
      if (!best) throw new Error("all publisher connections are closed");
      if (best.inflight < this.#depth) {
        onWrite?.();
        const p = best.send(prepared.head, prepared.body);
        return p.finally(() => this.#waiting.shift()?.());
      }
      await new Promise<void>((r) => this.#waiting.push(r));
    }
    throw new Error("request: no room");
  }

  close(): void {
    for (const c of this.#conns) c.close();
  }
}

/** A port nobody listens on right now, on `host`. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

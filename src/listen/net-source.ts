/**
 * `node:net` sockets as byte connections for sse-server's HTTP/1.1 server (src/http1).
 * Deno uses it: a `node:net` write goes to the socket at once, where a `Deno.Conn` write
 * is an async op that Deno's event loop completes later, and at 18,000 streams that made
 * a broadcast cost 37 µs of server CPU per delivery instead of 15 (BENCHMARKS.md).
 */
import net from "node:net";
import type { ByteConn } from "../http1/reader.ts";
import type { ConnSource } from "../http1/server.ts";

class ConnectionClosed extends Error {
  constructor() {
    super("connection closed");
  }
}

export class SocketConn implements ByteConn {
  /** Bytes received and not yet read; the socket is paused whenever any wait here. */
  #received: Uint8Array[] = [];
  #ended = false;
  #wake: (() => void) | undefined;

  /** `socket` comes paused (see `listenNet`): nothing is read before it is asked for. */
  constructor(private readonly socket: net.Socket) {
    // Event frames are small and must leave at once, not wait for Nagle's algorithm.
    socket.setNoDelay(true);
    socket.on("data", (bytes: Uint8Array) => {
      this.#received.push(bytes);
      socket.pause();
      this.#wakeReader();
    });
    const end = () => {
      this.#ended = true;
      this.#wakeReader();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", () => {}); // a reset: "close" follows, and ends reads and writes
  }

  async read(into: Uint8Array): Promise<number | null> {
    while (this.#received.length === 0) {
      if (this.#ended) return null;
      this.socket.resume();
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    const next = this.#received[0]!;
    const count = Math.min(into.length, next.length);
    into.set(count === next.length ? next : next.subarray(0, count));
    if (count === next.length) this.#received.shift();
    else this.#received[0] = next.subarray(count);
    return count;
  }

  /** Hands `bytes` to the socket; waits only while its buffer is full (for "drain"). */
  write(bytes: Uint8Array): Promise<number> {
    const socket = this.socket;
    if (socket.destroyed) return Promise.reject(new ConnectionClosed());
    if (socket.write(bytes)) return Promise.resolve(bytes.length);
    return new Promise((resolve, reject) => {
      const drained = () => {
        socket.off("close", closed);
        resolve(bytes.length);
      };
      const closed = () => {
        socket.off("drain", drained);
        reject(new ConnectionClosed());
      };
      socket.once("drain", drained);
      socket.once("close", closed);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** Listens on `host:port`; resolves with the bound port and the accepted connections. */
export function listenNet(host: string, port: number): Promise<{ port: number; source: ConnSource }> {
  const server = net.createServer({ pauseOnConnect: true });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve({ port: (server.address() as net.AddressInfo).port, source: netSource(server) });
    });
  });
}

/**
 * The connections of a listening `server`, one `accept` at a time. A failure to accept
 * (e.g. out of file descriptors), which node:net reports as the server's "error", is the
 * next `accept`'s rejection: reported and retried by the caller, never a crash.
 */
export function netSource(server: net.Server): ConnSource {
  const waiting: { resolve: (conn: ByteConn) => void; reject: (error: unknown) => void }[] = [];
  const accepted: ByteConn[] = [];
  let failure: unknown;
  let closed = false;
  server.on("connection", (socket) => {
    const conn = new SocketConn(socket);
    const taker = waiting.shift();
    if (taker) taker.resolve(conn);
    else accepted.push(conn);
  });
  server.on("error", (error) => {
    const taker = waiting.shift();
    if (taker) taker.reject(error);
    else failure = error;
  });
  return {
    accept: () => {
      if (closed) return Promise.reject(new ConnectionClosed());
      const next = accepted.shift();
      if (next) return Promise.resolve(next);
      if (failure !== undefined) {
        const error = failure;
        failure = undefined;
        return Promise.reject(error);
      }
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    close: () => {
      if (closed) return;
      closed = true;
      server.close();
      for (const conn of accepted.splice(0)) conn.close();
      for (const taker of waiting.splice(0)) taker.reject(new ConnectionClosed());
    },
  };
}

/** HTTP/1.1 spoken by hand over a real socket, for what `fetch` would hide (framing, keep-alive). */
import net from "node:net";

export interface RawSocket {
  send(text: string): void;
  /** Resolves with everything received once `done(received)` holds; rejects after `timeoutMs`. */
  until(done: (received: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves when the server closes the connection. */
  readonly closed: Promise<void>;
  close(): void;
}

export async function connectRaw(port: number): Promise<RawSocket> {
  const socket = net.connect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  let received = "";
  let wake: () => void = () => {};
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("latin1");
    wake();
  });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.once("close", () => (wake(), resolve())));
  return {
    send: (text) => void socket.write(Buffer.from(text, "latin1")),
    async until(done, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!done(received)) {
        if (socket.destroyed || Date.now() > deadline)
          throw new Error(`${socket.destroyed ? "closed" : "timed out"}; received:\n${received}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 20);
        });
      }
      return received;
    },
    closed,
    close: () => socket.destroy(),
  };
}

/** The status codes of the responses in `received`, in order (100 Continue included). */
export const statusCodes = (received: string): number[] =>
  [...received.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));

export interface RawExchange {
  /** Everything the server sent, as latin1. */
  readonly received: string;
  /** The server closed (or reset) the connection; otherwise it went quiet and the client gave up. */
  readonly closedByServer: boolean;
}

/**
 * Sends `bytes` (latin1) on a fresh connection and collects the answer until the server
 * closes, or has sent nothing for `quietMs` (it waits for more, or has said all it will),
 * or `maxMs` have passed. For requests that may get any answer, or none.
 */
export function exchangeRaw(port: number, bytes: string, { quietMs = 500, maxMs = 3000 } = {}): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let received = "";
    let quiet: ReturnType<typeof setTimeout> | undefined;
    const finish = (closedByServer: boolean) => {
      clearTimeout(quiet);
      clearTimeout(deadline);
      socket.destroy();
      resolve({ received, closedByServer });
    };
    const rearm = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => finish(false), quietMs);
    };
    const deadline = setTimeout(() => finish(false), maxMs);
    socket.once("connect", () => {
      socket.write(Buffer.from(bytes, "latin1"));
      rearm();
    });
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      rearm();
    });
    // A reset after the server's answer (it closed with our bytes unread) is a close too.
    socket.on("error", () => {});
    socket.once("close", () => finish(true));
  });
}

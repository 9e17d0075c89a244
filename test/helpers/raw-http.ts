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

/**
 * The status codes of the responses in `received`, in order (100 Continue included). The
 * reason phrase may be empty (RFC 9112 4): the code is followed by a space or the line's end.
 */
export const statusCodes = (received: string): number[] =>
  [...received.matchAll(/HTTP\/1\.[01] (\d{3})[ \r]/g)].map((m) => Number(m[1]));

/** How an exchange ended: the server closed, `done` held, it went quiet, or time ran out. */
export type ExchangeEnd = "closed" | "done" | "quiet" | "deadline";

export interface RawExchange {
  /** Everything the server sent, as latin1. */
  readonly received: string;
  /** The server closed (or reset) the connection; otherwise the client gave up. */
  readonly closedByServer: boolean;
  readonly end: ExchangeEnd;
}

export interface ExchangeOptions {
  /** Ends the exchange as soon as it holds for what was received (e.g. a last request's answer came). */
  readonly done?: (received: string) => boolean;
  /** Ends it after this long without a byte from the server (it waits for more, or said all it will). */
  readonly quietMs?: number;
  readonly maxMs?: number;
}

/**
 * Sends `bytes` (latin1) on a fresh connection and collects the answer until the server
 * closes, `done` holds, the server has sent nothing for `quietMs`, or `maxMs` have passed.
 * For requests that may get any answer, or none.
 */
export function exchangeRaw(port: number, bytes: string, { done, quietMs = 500, maxMs = 3000 }: ExchangeOptions = {}): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let received = "";
    let quiet: ReturnType<typeof setTimeout> | undefined;
    const finish = (end: ExchangeEnd) => {
      clearTimeout(quiet);
      clearTimeout(deadline);
      socket.destroy();
      resolve({ received, closedByServer: end === "closed", end });
    };
    const rearm = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => finish("quiet"), quietMs);
    };
    const deadline = setTimeout(() => finish("deadline"), maxMs);
    socket.once("connect", () => {
      socket.write(Buffer.from(bytes, "latin1"));
      rearm();
    });
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (done?.(received)) finish("done");
      else rearm();
    });
    // A reset after the server's answer (it closed with our bytes unread) is a close too.
    socket.on("error", () => {});
    socket.once("close", () => finish("closed"));
  });
}

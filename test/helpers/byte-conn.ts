/**
 * An in-memory connection for the HTTP/1.1 server (src/http1): the test plays the
 * client, sending bytes in whatever pieces it likes and reading what the server wrote.
 */
import type { ByteConn } from "../../src/http1/reader.ts";

const latin1 = new TextDecoder("latin1");

export class FakeConn implements ByteConn {
  readonly #incoming: Uint8Array[] = [];
  #wakeReader: (() => void) | undefined;
  #clientEnded = false;
  closed = false;
  /** When set, every write fails (the peer reset the connection). */
  failWrites = false;
  /** When set, writes never complete (a client that reads nothing) until the connection closes. */
  stallWrites = false;
  readonly #stalled: (() => void)[] = [];
  readonly #written: Uint8Array[] = [];
  #onWrite: (() => void) | undefined;

  /** Client side: sends bytes (a string is sent as latin1). */
  send(data: string | Uint8Array): void {
    this.#incoming.push(typeof data === "string" ? Uint8Array.from(data, (c) => c.charCodeAt(0)) : data);
    this.#wakeReader?.();
  }

  /** Client side: closes its half (end of stream for the server's reads). */
  end(): void {
    this.#clientEnded = true;
    this.#wakeReader?.();
  }

  /** Everything the server wrote, as latin1 text. */
  get output(): string {
    return this.#written.map((b) => latin1.decode(b)).join("");
  }

  /** Resolves once `predicate(output)` holds; rejects after `timeoutMs`. */
  async waitFor(predicate: (output: string) => boolean, timeoutMs = 2000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.output)) {
      if (this.closed && !predicate(this.output)) throw new Error(`closed; output so far:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`timed out; output so far:\n${this.output}`);
      await new Promise<void>((resolve) => {
        this.#onWrite = resolve;
        setTimeout(resolve, 10);
      });
    }
    return this.output;
  }

  async read(into: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.closed) throw new Error("connection closed");
      const next = this.#incoming[0];
      if (next) {
        const count = Math.min(into.length, next.length);
        into.set(next.subarray(0, count));
        if (count === next.length) this.#incoming.shift();
        else this.#incoming[0] = next.subarray(count);
        return count;
      }
      if (this.#clientEnded) return null;
      await new Promise<void>((resolve) => (this.#wakeReader = resolve));
    }
  }

  async write(bytes: Uint8Array): Promise<number> {
    if (this.stallWrites && !this.closed) await new Promise<void>((resolve) => this.#stalled.push(resolve));
    if (this.closed || this.failWrites) throw new Error("broken pipe");
    this.#written.push(bytes.slice());
    this.#onWrite?.();
    return bytes.length;
  }

  /** Lets stalled writes complete (and later ones through). */
  releaseWrites(): void {
    this.stallWrites = false;
    this.#stalled.splice(0).forEach((wake) => wake());
  }

  /** Each write the server made, as latin1 text. */
  get writes(): string[] {
    return this.#written.map((b) => latin1.decode(b));
  }

  close(): void {
    this.closed = true;
    this.#stalled.splice(0).forEach((wake) => wake());
    this.#wakeReader?.();
    this.#onWrite?.();
  }
}

/** Splits a raw HTTP/1.1 output into responses' heads and bodies, for assertions. */
export function statusLines(output: string): string[] {
  return output.split("\r\n").filter((line) => line.startsWith("HTTP/1.1 "));
}

/**
 * The read side of one connection: bytes received but not yet consumed, and at most one
 * read in flight, so that the watch for a client's close during a long response and the
 * next request's head never race for the same bytes.
 */

/** What the HTTP/1.1 server needs of a TCP connection; `Deno.Conn` is one as it is. */
export interface ByteConn {
  /** Fills `into`; resolves with the count, or null at end of stream. */
  read(into: Uint8Array): Promise<number | null>;
  /** Writes a prefix of `bytes`; resolves with how much was written. */
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

const EMPTY = new Uint8Array(0);

export class ByteReader {
  #pending: Uint8Array = EMPTY;
  #inFlight: Promise<boolean> | undefined;
  #ended = false;

  constructor(private readonly conn: ByteConn) {}

  /** Bytes received and not yet taken. */
  get buffered(): Uint8Array {
    return this.#pending;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Reads once more (up to `size` bytes) onto the buffer; false at end of stream. A call
   * while a read is in flight joins that read instead of starting another.
   */
  more(size: number): Promise<boolean> {
    if (this.#ended) return Promise.resolve(false);
    this.#inFlight ??= this.#readOnce(size).finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }

  /** Removes and returns the first `count` buffered bytes. */
  take(count: number): Uint8Array {
    const taken = this.#pending.subarray(0, count);
    const rest = this.#pending.subarray(count);
    // A copy, so a small rest does not keep a large read buffer alive.
    this.#pending = rest.length === 0 ? EMPTY : rest.slice();
    return taken;
  }

  async #readOnce(size: number): Promise<boolean> {
    const chunk = new Uint8Array(size);
    let count: number | null;
    try {
      count = await this.conn.read(chunk);
    } catch {
      count = null; // reset or closed under us: the same as an end for this side
    }
    if (count === null) {
      this.#ended = true;
      return false;
    }
    this.#pending = this.#pending.length === 0 ? chunk.subarray(0, count) : concat(this.#pending, chunk.subarray(0, count));
    return true;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/** Writes all of `bytes`, however many calls the connection needs. */
export async function writeAll(conn: ByteConn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const count = await conn.write(written === 0 ? bytes : bytes.subarray(written));
    if (count <= 0) throw new Error("connection accepted no bytes");
    written += count;
  }
}

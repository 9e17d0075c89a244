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
  /** The buffer of the read in flight. */
  #chunk: Uint8Array = EMPTY;
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
    if (this.#inFlight === undefined) {
      this.#chunk = new Uint8Array(size);
      // Plain callbacks made once per reader, not an async frame per read: an idle
      // stream keeps one read pending for its whole life.
      this.#inFlight = this.conn.read(this.#chunk).then(this.#received, this.#failed);
    }
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

  readonly #received = (count: number | null): boolean => {
    const chunk = this.#chunk;
    this.#chunk = EMPTY;
    this.#inFlight = undefined;
    if (count === null) {
      this.#ended = true;
      return false;
    }
    const bytes = chunk.subarray(0, count);
    this.#pending = this.#pending.length === 0 ? bytes : concat(this.#pending, bytes);
    return true;
  };

  /** A reset, or closed under us: the same as an end for this side. */
  readonly #failed = (): boolean => this.#received(null);
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

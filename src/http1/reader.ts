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
  /** Received bytes live in #buf[#start, #end); reads land at #end, into spare room. */
  #buf: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  #inFlight: Promise<boolean> | undefined;
  #ended = false;

  constructor(private readonly conn: ByteConn) {}

  /** Bytes received and not yet taken (a view: valid until the next `take` or `more`). */
  get buffered(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  get bufferedLength(): number {
    return this.#end - this.#start;
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
      this.#reserve(size);
      // Plain callbacks made once per reader, not an async frame per read: an idle
      // stream keeps one read pending for its whole life.
      this.#inFlight = this.conn.read(this.#buf.subarray(this.#end, this.#end + size)).then(this.#received, this.#failed);
    }
    return this.#inFlight;
  }

  /** Removes and returns the first `count` buffered bytes (a view; copy to keep). */
  take(count: number): Uint8Array {
    const taken = this.#buf.subarray(this.#start, this.#start + count);
    this.#start += count;
    // Drained: let the buffer go, so an idle connection holds no more than its next read.
    if (this.#start === this.#end && this.#inFlight === undefined) this.#reset();
    return taken;
  }

  /** Room for `size` more bytes at the end; grows by doubling, so a slow sender costs linear copying. */
  #reserve(size: number): void {
    if (this.#buf.length - this.#end >= size) return;
    const used = this.#end - this.#start;
    // Exactly `size` for a first read (an idle connection's pending read stays small);
    // doubled room once bytes pile up, so the next larger read fits without copying again.
    const grown = new Uint8Array(used === 0 ? size : (used + size) * 2);
    grown.set(this.#buf.subarray(this.#start, this.#end));
    this.#buf = grown;
    this.#start = 0;
    this.#end = used;
  }

  #reset(): void {
    this.#buf = EMPTY;
    this.#start = this.#end = 0;
  }

  readonly #received = (count: number | null): boolean => {
    this.#inFlight = undefined;
    if (count === null) {
      this.#ended = true;
      return false;
    }
    this.#end += count;
    if (this.#start === this.#end) this.#reset();
    return true;
  };

  /** A reset, or closed under us: the same as an end for this side. */
  readonly #failed = (): boolean => this.#received(null);
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

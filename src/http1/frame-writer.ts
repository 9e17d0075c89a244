/**
 * The body of a claimed event stream (see `claimableStream`), written as the hub pushes
 * its frames: the first frame starts a write at once, and frames that arrive while a
 * write is in flight go out together in the next one.
 */
import type { FrameWriter } from "../stream.ts";
import type { ByteConn } from "./reader.ts";
import { encodeChunk, LAST_CHUNK } from "./response.ts";

/** A write stops growing here, so one slow client's backlog goes out in bounded writes. */
const MAX_WRITE_BYTES = 64 * 1024;

export class ConnFrameWriter implements FrameWriter {
  #queue: Uint8Array[];
  /** The bytes of the write in flight, if one is. */
  #inFlight: Uint8Array | undefined;
  #ending = false;
  #settled = false;
  #settle!: (whole: boolean) => void;
  /** Resolves when the body is over: true if it was sent whole, false if it was cut off. */
  readonly done = new Promise<boolean>((resolve) => (this.#settle = resolve));

  /** `head` goes out first, with the first frame; `chunked` frames each frame as a chunk. */
  constructor(
    private readonly conn: ByteConn,
    head: Uint8Array,
    private readonly chunked: boolean,
    private readonly onWriteFailed: () => void,
  ) {
    this.#queue = [head];
  }

  write(frame: Uint8Array): number {
    if (this.#settled) return 0;
    this.#queue.push(this.chunked ? encodeChunk(frame) : frame);
    if (!this.#inFlight) this.#next();
    return this.#queue.length;
  }

  end(): void {
    if (this.#settled) return;
    this.#ending = true;
    if (this.chunked) this.#queue.push(LAST_CHUNK);
    if (!this.#inFlight) this.#next();
  }

  /** Too slow, or the client went away: stop, with the body cut off. */
  abort(): void {
    this.#finish(false);
  }

  // The write loop is plain callbacks, not an async function: it runs once per frame and subscriber.
  #next(): void {
    if (this.#settled) return;
    if (this.#queue.length > 0) return this.#send(this.#take());
    this.#inFlight = undefined;
    if (this.#ending) this.#finish(true);
  }

  #send(bytes: Uint8Array): void {
    this.#inFlight = bytes;
    this.conn.write(bytes).then(this.#written, this.#failed);
  }

  readonly #written = (count: number): void => {
    if (this.#settled) return;
    const bytes = this.#inFlight!;
    if (count <= 0) return this.#failed();
    if (count < bytes.length) return this.#send(bytes.subarray(count));
    this.#next();
  };

  readonly #failed = (): void => {
    this.onWriteFailed();
    this.#finish(false);
  };

  /** The queued bytes, up to the write limit, as one array (the usual single frame: no copy). */
  #take(): Uint8Array {
    const queue = this.#queue;
    let count = 1;
    let size = queue[0]!.length;
    while (count < queue.length && size + queue[count]!.length <= MAX_WRITE_BYTES) size += queue[count++]!.length;
    return joinBytes(queue.splice(0, count), size);
  }

  #finish(whole: boolean): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#queue = [];
    this.#settle(whole);
  }
}

/** `parts` (of `size` bytes in all) as one array; a single part is returned as it is. */
function joinBytes(parts: readonly Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

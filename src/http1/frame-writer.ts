/**
 * The body of a claimed event stream (see `claimableStream`), written as the hub pushes
 * its frames: the first frame starts a write at once, and frames that arrive while a
 * write is in flight go out together in the next one.
 */
import type { FrameWriter } from "../stream.ts";
import { writeAll, type ByteConn } from "./reader.ts";
import { encodeChunk, LAST_CHUNK } from "./response.ts";

/** A write stops growing here, so one slow client's backlog goes out in bounded writes. */
const MAX_WRITE_BYTES = 64 * 1024;

export class ConnFrameWriter implements FrameWriter {
  #queue: Uint8Array[];
  #writing = false;
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
    if (!this.#writing) void this.#flush();
    return this.#queue.length;
  }

  end(): void {
    if (this.#settled) return;
    this.#ending = true;
    if (this.chunked) this.#queue.push(LAST_CHUNK);
    if (!this.#writing) void this.#flush();
  }

  /** Too slow, or the client went away: stop, with the body cut off. */
  abort(): void {
    this.#finish(false);
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#settled) await writeAll(this.conn, this.#take());
    } catch {
      this.onWriteFailed();
      return this.#finish(false);
    } finally {
      this.#writing = false;
    }
    if (this.#ending) this.#finish(true);
  }

  /** The queued bytes, up to the write limit, as one array (the usual single frame: no copy). */
  #take(): Uint8Array {
    const queue = this.#queue;
    let count = 1;
    let size = queue[0]!.length;
    while (count < queue.length && size + queue[count]!.length <= MAX_WRITE_BYTES) size += queue[count++]!.length;
    const taken = queue.splice(0, count);
    if (count === 1) return taken[0]!;
    const bytes = new Uint8Array(size);
    let offset = 0;
    for (const part of taken) {
      bytes.set(part, offset);
      offset += part.length;
    }
    return bytes;
  }

  #finish(whole: boolean): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#queue = [];
    this.#settle(whole);
  }
}

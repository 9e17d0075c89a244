/**
 * A request body as a ReadableStream, read from the connection only as the app pulls it
 * (so the app's own body limit answers 413 before an oversized body is taken in), with
 * Content-Length or chunked framing (RFC 9112 §6–7).
 */
import type { BodyFraming } from "./head.ts";
import type { ByteReader } from "./reader.ts";

const READ_SIZE = 16 * 1024;
/** A chunk-size line or trailer line longer than this is not an honest one. */
const MAX_LINE = 4096;
/** All trailer lines together. */
const MAX_TRAILERS = 16 * 1024;

export class RequestBody {
  /** True once the body has been read to its end (or there was none). */
  complete: boolean;
  readonly stream: ReadableStream<Uint8Array> | null;

  /**
   * `read` asks the connection for more bytes (held to the request's deadline);
   * `beforeFirstRead` runs once, when the app first asks for bytes (for `100 Continue`).
   */
  constructor(
    private readonly reader: ByteReader,
    framing: BodyFraming,
    private readonly read: (size: number) => Promise<boolean>,
    beforeFirstRead: () => Promise<void>,
  ) {
    this.complete = framing.kind === "none";
    if (framing.kind === "none") {
      this.stream = null;
      return;
    }
    let started = false;
    const source = framing.kind === "length" ? this.#lengthChunks(framing.length) : this.#chunkedChunks();
    this.stream = new ReadableStream<Uint8Array>(
      {
      pull: async (controller) => {
        if (!started) await beforeFirstRead();
        started = true;
        const next = await source.next();
        if (next.done) {
          this.complete = true;
          controller.close();
        } else controller.enqueue(next.value);
      },
      cancel: () => void source.return(undefined),
      },
      // Nothing is read ahead of the app: it may refuse the body unread (413, 401).
      { highWaterMark: 0 },
    );
  }

  /** The next `count` bytes of the connection, in the pieces they arrive in. */
  async *#lengthChunks(count: number): AsyncGenerator<Uint8Array> {
    let left = count;
    while (left > 0) {
      if (this.reader.bufferedLength === 0) await this.#more();
      const chunk = this.reader.take(Math.min(left, this.reader.bufferedLength));
      left -= chunk.length;
      yield chunk.slice();
    }
  }

  async *#chunkedChunks(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const size = parseChunkSize(await this.#line());
      if (size === 0) break;
      yield* this.#lengthChunks(size);
      if ((await this.#line()) !== "") throw new Error("chunk data not followed by CRLF");
    }
    // Trailer fields are read past, not used (RFC 9112 §7.1.2).
    let trailerBytes = 0;
    for (let line = await this.#line(); line !== ""; line = await this.#line()) {
      trailerBytes += line.length;
      if (trailerBytes > MAX_TRAILERS) throw new Error("trailer section too large");
    }
  }

  /** One line without its CRLF; a bare LF or CR, or any other control byte, is refused. */
  async #line(): Promise<string> {
    for (;;) {
      const end = this.reader.buffered.indexOf(10);
      if (end >= 0) {
        const bytes = this.reader.take(end + 1);
        if (end === 0 || bytes[end - 1] !== 13) throw new Error("chunked body line not ended by CRLF");
        const line = String.fromCharCode(...bytes.subarray(0, end - 1));
        if (CONTROL.test(line)) throw new Error("control character in a chunked body line");
        return line;
      }
      if (this.reader.bufferedLength > MAX_LINE) throw new Error("chunk line too long");
      await this.#more();
    }
  }

  async #more(): Promise<void> {
    if (!(await this.read(READ_SIZE))) throw new Error("connection closed before the request body ended");
  }
}

/** Control bytes other than HTAB. */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
/** A chunk size, then optional whitespace and extensions (allowed and ignored, RFC 9112 §7.1.1). */
const CHUNK_SIZE = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/;

function parseChunkSize(line: string): number {
  const size = CHUNK_SIZE.exec(line);
  if (!size) throw new Error("invalid chunk size");
  return parseInt(size[1]!, 16);
}

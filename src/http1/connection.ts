/**
 * One HTTP/1.1 connection: read a request head, hand the app a Web `Request`, write its
 * `Response` back, and again while the connection is kept alive. During a long response
 * (an event stream) one small read stays pending, so a client's close ends the response
 * body at once instead of at the next failed write.
 */
import { CLAIMING_SERVER, claimableStream, streamingResponse, type ClaimableStream, type SubscriberStream } from "../stream.ts";
import { RequestBody } from "./body.ts";
import { ConnFrameWriter } from "./frame-writer.ts";
import { findHeadEnd, HttpError, parseRequestHead, type RequestHead } from "./head.ts";
import { ByteReader, writeAll, type ByteConn } from "./reader.ts";
import { encodeChunk, encodeErrorResponse, encodeHead, encodeStreamHead, LAST_CHUNK, planResponse, type ResponsePlan } from "./response.ts";

/** Called with CLAIMING_SERVER as `env`: this server claims event streams. */
export type Fetch = (request: Request, env?: object) => Response | Promise<Response>;

export interface ConnectionOptions {
  /** The largest request head accepted (431 above it). */
  readonly maxHeadBytes: number;
  /**
   * How long a request may take to arrive, head and body, counted from when the server
   * starts waiting for it (idle keep-alive time included): slow senders are cut off.
   */
  readonly requestTimeoutMs: number;
  /** Called when the app throws instead of answering (a bug: it is logged by the caller). */
  readonly onAppError: (error: unknown) => void;
}

/**
 * Reads for a head start small and grow with what has arrived: an idle keep-alive
 * connection holds its pending read's buffer for as long as it waits.
 */
const HEAD_READ_MIN = 1024;
const HEAD_READ_MAX = 16 * 1024;
/** While a response streams, this is all a pending read holds per connection. */
const WATCH_READ_SIZE = 64;
const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");

export class Connection {
  readonly #reader: ByteReader;
  #closed = false;
  #idle = true;
  #closeWhenIdle = false;
  /** When the request being waited for is overdue (ms since epoch), or 0 when not waiting. */
  deadline = 0;
  /** The deadline of the current request, applied while its body is waited for. */
  #requestDeadline = 0;

  constructor(
    private readonly conn: ByteConn,
    private readonly fetch: Fetch,
    private readonly options: ConnectionOptions,
  ) {
    this.#reader = new ByteReader(conn);
  }

  /** Serves requests until either side closes. Never rejects. */
  async serve(): Promise<void> {
    try {
      while (!this.#closed) {
        const started = await this.#startNext();
        if (started === null) break;
        const keepGoing = await started.sent;
        this.#idle = true;
        if (!keepGoing || this.#closeWhenIdle) break;
      }
    } catch (error) {
      if (error instanceof HttpError) await this.#writeQuietly(encodeErrorResponse(error.status, error.message));
    } finally {
      this.close();
    }
  }

  /** Closes now if no request is in progress, else after the current response. */
  closeWhenIdle(): void {
    this.#closeWhenIdle = true;
    if (this.#idle) this.close();
  }

  /** Closes the connection if the request it waits for is overdue (slow or idle client). */
  closeIfOverdue(now: number): void {
    if (this.deadline !== 0 && now > this.deadline) this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // already closed by the peer
    }
  }

  /** The next request head, or null when the connection ends (or times out) between requests. */
  async #readHead(): Promise<RequestHead | null> {
    // Enforced by the server's one sweep (closeIfOverdue), not a timer per connection.
    this.#requestDeadline = Date.now() + this.options.requestTimeoutMs;
    this.deadline = this.#requestDeadline;
    try {
      let searched = 0;
      for (;;) {
        // Empty lines before a request line are ignored (RFC 9112 §2.2).
        while (searched === 0 && this.#reader.bufferedLength > 0 && isLineEnd(this.#reader.buffered[0]!)) this.#reader.take(1);
        const buffered = this.#reader.buffered;
        const end = findHeadEnd(buffered, searched);
        if (end >= 0) {
          if (end > this.options.maxHeadBytes) throw new HttpError(431, "request head too large");
          return parseRequestHead(this.#reader.take(end));
        }
        if (buffered.length > this.options.maxHeadBytes) throw new HttpError(431, "request head too large");
        searched = Math.max(0, buffered.length - 2);
        if (!(await this.#reader.more(Math.min(HEAD_READ_MAX, Math.max(HEAD_READ_MIN, buffered.length)))) || this.#closed) {
          if (this.#reader.bufferedLength > 0 && !this.#closed) throw new HttpError(400, "incomplete request head");
          return null;
        }
      }
    } finally {
      this.deadline = 0;
    }
  }

  /**
   * Reads the next request, asks the app and starts the response; `sent` resolves when it
   * has gone out, true if the connection may carry another. Null when the connection ends
   * between requests. Nothing of the request outlives this call: a long response holds
   * only its body's reader.
   */
  async #startNext(): Promise<{ readonly sent: Promise<boolean> } | null> {
    const head = await this.#readHead();
    if (head === null) return null;
    this.#idle = false;
    const body = new RequestBody(this.#reader, head.body, this.#readBody, () =>
      head.expectContinue ? writeAll(this.conn, CONTINUE) : Promise.resolve(),
    );
    const response = await this.#callApp(toRequest(head, body));
    // An event stream's Response has no body until it is claimed (or asked for one).
    const claimable = claimableStream(response);
    // An unread request body would be taken for the next request: close instead.
    const plan = planResponse(response, head.method, head.http11, head.keepAlive && body.complete, claimable !== undefined);
    const sent = this.#writeResponse(response, plan, claimable).then((whole) => whole && !plan.close && body.complete);
    return { sent };
  }

  /** A read for the request body, held to the request's deadline. */
  readonly #readBody = async (size: number): Promise<boolean> => {
    this.deadline = this.#requestDeadline;
    try {
      return !this.#closed && (await this.#reader.more(size));
    } finally {
      this.deadline = 0;
    }
  };

  /** The response body failed (e.g. its subscriber was too slow): drop the connection now, even mid-write. */
  readonly #abort = (): void => this.close();

  async #callApp(request: Request): Promise<Response> {
    try {
      return await this.fetch(request, CLAIMING_SERVER);
    } catch (error) {
      this.options.onAppError(error);
      return new Response("internal error\n", { status: 500, headers: { "content-type": "text/plain; charset=UTF-8" } });
    }
  }

  /** Writes head and body; false if the body could not be sent whole. */
  async #writeResponse(response: Response, plan: ResponsePlan, claimable: ClaimableStream | undefined): Promise<boolean> {
    if (claimable) {
      const claimed = plan.framing !== "none" && this.#writeClaimed(claimable.stream, encodeStreamHead(claimable.headers, plan), plan);
      if (claimed) return claimed;
      response = streamingResponse(claimable);
    }
    if (plan.framing === "none" || response.body === null) {
      void response.body?.cancel().catch(() => {});
      return this.#writeQuietly(encodeHead(response, plan));
    }
    const head = encodeHead(response, plan);
    if (!(await this.#writeQuietly(head))) {
      void response.body.cancel().catch(() => {});
      return false;
    }
    return this.#writeBody(response.body.getReader(), plan);
  }

  /**
   * An event stream taken over from its ReadableStream: frames are written as they are
   * pushed. Undefined if it cannot be claimed (then it is read as a stream).
   */
  #writeClaimed(stream: SubscriberStream, head: Uint8Array, plan: ResponsePlan): Promise<boolean> | undefined {
    const writer = new ConnFrameWriter(this.conn, head, plan.framing === "chunked", this.#abort);
    const claimed = stream.claim(writer);
    if (!claimed) return undefined;
    const stopWatching = this.#watchForClose(() => writer.abort());
    return writer.done.then((whole) => {
      stopWatching();
      // Cut off (client gone, write failed): the stream ends, unless it already has (too slow).
      if (!whole) claimed.clientGone();
      return whole;
    });
  }

  async #writeBody(reader: ReadableStreamDefaultReader<Uint8Array>, plan: ResponsePlan): Promise<boolean> {
    let clientGone = false;
    const stopWatching = this.#watchForClose(() => {
      clientGone = true;
      void reader.cancel().catch(() => {});
    });
    // A write can wait forever on a client that reads nothing; the body's error must still end it.
    reader.closed.catch(this.#abort);
    const frame = plan.framing === "chunked" ? encodeChunk : (bytes: Uint8Array) => bytes;
    try {
      for (;;) {
        let next: Awaited<ReturnType<typeof reader.read>>;
        try {
          next = await reader.read();
        } catch {
          return false; // the body failed: end without a clean end
        }
        // Cut off by the client's close: not a complete response, so no last chunk.
        if (next.done) return !clientGone && (plan.framing === "chunked" ? this.#writeQuietly(LAST_CHUNK) : true);
        if (next.value.length === 0) continue; // an empty chunk would read as the last one
        try {
          await writeAll(this.conn, frame(next.value));
        } catch {
          this.close();
          void reader.cancel().catch(() => {});
          return false;
        }
      }
    } finally {
      stopWatching();
    }
  }

  /**
   * Keeps one small read pending while a response body is written, calling `onClose` if
   * the client goes away (or half-closes). Bytes that arrive meanwhile (a pipelined
   * request) stay buffered for the next head, up to the head limit.
   */
  #watchForClose(onClose: () => void): () => void {
    const watch = { active: true };
    const step = (more: boolean): void => {
      if (!watch.active) return;
      // A client that sends more than a request head meanwhile is not a well-behaved one.
      if (!more || this.#reader.bufferedLength > this.options.maxHeadBytes) onClose();
      else void this.#reader.more(WATCH_READ_SIZE).then(step);
    };
    step(true);
    return () => void (watch.active = false);
  }

  async #writeQuietly(bytes: Uint8Array): Promise<boolean> {
    if (this.#closed) return false;
    try {
      await writeAll(this.conn, bytes);
      return true;
    } catch {
      this.close();
      return false;
    }
  }
}

function toRequest(head: RequestHead, body: RequestBody): Request {
  const init: RequestInit & { duplex?: "half" } = { method: head.method, headers: head.headers };
  // A GET or HEAD cannot carry a body in a Request; it is left unread (and the connection closed).
  if (body.stream && head.method !== "GET" && head.method !== "HEAD") {
    init.body = body.stream;
    init.duplex = "half";
  }
  try {
    return new Request(head.url, init);
  } catch {
    // e.g. a method the Fetch standard forbids (CONNECT, TRACE)
    throw new HttpError(501, `unsupported request: ${head.method}`);
  }
}

const isLineEnd = (byte: number): boolean => byte === 10 || byte === 13;


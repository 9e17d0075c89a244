/**
 * The publisher library: what a backend needs to use the SSE server. Mints subscribe
 * URLs (for the 307-redirect pattern) and submits events, retrying while the server
 * answers 503 (clustered and its broker is away, or full) or does not answer. Every
 * publish carries an id, the same on each of its retries, so a retry of a submission the
 * server did take is not delivered again. Portable: Bun, Deno, Node.
 *
 *   import { SseClient } from "sse-server/client";
 *   const sse = new SseClient({ url: "http://sse.internal:8000", secret: process.env.SSE_SECRET! });
 *   return Response.redirect(sse.subscribeUrl([`user:${id}`]), 307);
 *   await sse.publish({ topic: `user:${id}`, event: "update", data: "" });
 *   const { topics } = await sse.presence([`user:${id}`]); // open streams, every instance
 */
import { encode } from "@msgpack/msgpack";
import { hexToBytes } from "./hex.ts";
import { createBranca, type Branca } from "./token/branca.ts";
import type { PresenceCounts } from "./presence.ts";

export type { PresenceCounts };

export interface ClientEvent {
  readonly topic: string;
  /** Empty: a plain `message` event in the browser. */
  readonly event?: string;
  readonly data?: string;
}

export interface SseClientOptions {
  /** The server's base URL, base path included (e.g. `https://example.com/sse-server`). */
  readonly url: string;
  /** The shared `SSE_SECRET`: 64 hex characters, or the 32 key bytes. */
  readonly secret: string | Uint8Array;
  /** Attempts for a publish answered 503 or not answered at all (default 5). */
  readonly attempts?: number;
  /** First retry delay, doubled each time (default 100 ms). */
  readonly retryDelayMs?: number;
  readonly fetch?: typeof fetch;
}

export interface PublishOptions {
  /**
   * Names the submission (1 to 200 bytes of UTF-8), e.g. `order-42-shipped`: the server
   * delivers it once per SSE_IDEMPOTENCY_TTL, also when your own code retries the publish.
   * Default: a random UUID per call, which covers this call's own retries.
   */
  readonly id?: string;
}

/** The server refused a request; `status` is its HTTP status (0: no answer). */
export class SseClientError extends Error {
  override name = "SseClientError";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export class SseClient {
  readonly #base: string;
  readonly #branca: Branca;
  readonly #attempts: number;
  readonly #retryDelayMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: SseClientOptions) {
    this.#base = options.url.replace(/\/+$/, "");
    this.#branca = createBranca(typeof options.secret === "string" ? hexKey(options.secret) : options.secret);
    this.#attempts = Math.max(1, options.attempts ?? 5);
    this.#retryDelayMs = options.retryDelayMs ?? 100;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /**
   * A token for `GET events`. `timestamp` (unix seconds) backdates it, e.g. to shorten its
   * life; `prefixes` also grants every topic that starts with one of them.
   */
  subscribeToken(topics: readonly string[], timestamp?: number, prefixes: readonly string[] = []): string {
    return this.#branca.encode(encode(prefixes.length > 0 ? { topics, prefixes } : { topics }), { timestamp });
  }

  /** The URL a browser's EventSource should open (or be redirected to with a 307). */
  subscribeUrl(
    topics: readonly string[],
    options: { lastEventId?: string; timestamp?: number; prefixes?: readonly string[] } = {},
  ): string {
    const url = `${this.#base}/events?token=${this.subscribeToken(topics, options.timestamp, options.prefixes)}`;
    return options.lastEventId ? `${url}&lastEventId=${encodeURIComponent(options.lastEventId)}` : url;
  }

  /**
   * The URL of the live dashboard (`GET dashboard`), with a `{dashboard: true}` token.
   * `timestamp` (unix seconds) backdates it, e.g. to shorten its life.
   */
  dashboardUrl(options: { timestamp?: number } = {}): string {
    return `${this.#base}/dashboard?token=${this.#branca.encode(encode({ dashboard: true }), options)}`;
  }

  /** A token for `POST submit`; with `id`, a retry under the same id within SSE_IDEMPOTENCY_TTL is not delivered again. */
  submitToken(events: readonly ClientEvent[], id?: string): string {
    const normalized = events.map((e) => ({ topic: e.topic, event: e.event ?? "", data: e.data ?? "" }));
    return this.#branca.encode(encode(id === undefined ? { events: normalized } : { events: normalized, id }));
  }

  /**
   * Submits one event or a batch (delivered whole or not at all). Retries on 503 and on
   * network errors with exponential backoff; throws SseClientError on any other answer.
   * Every retry carries the same id (`options.id`, else a random UUID per call), so the
   * server delivers the submission at most once however many attempts reached it.
   */
  async publish(events: ClientEvent | readonly ClientEvent[], options: PublishOptions = {}): Promise<void> {
    const id = options.id ?? crypto.randomUUID();
    await this.#post("submit", this.submitToken(Array.isArray(events) ? events : [events as ClientEvent], id));
  }

  /** A token for `POST presence`. */
  presenceToken(topics: readonly string[]): string {
    return this.#branca.encode(encode({ presence: topics }));
  }

  /**
   * How many streams are open on each topic, over every live instance, and how many
   * instances are live. Retries as `publish` does; throws SseClientError on any other answer.
   */
  async presence(topics: readonly string[]): Promise<PresenceCounts> {
    return JSON.parse(await this.#post("presence", this.presenceToken(topics))) as PresenceCounts;
  }

  /** POSTs `body` to `route`, retrying on 503 and network errors; the answer's text on success. */
  async #post(route: string, body: string): Promise<string> {
    let last = new SseClientError(0, "not attempted");
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      if (attempt > 1) await sleep(this.#retryDelayMs * 2 ** (attempt - 2));
      try {
        const res = await this.#fetch(`${this.#base}/${route}`, { method: "POST", body });
        const text = (await res.text()).trim();
        if (res.ok) return text;
        last = new SseClientError(res.status, `${route} answered ${res.status}: ${text}`);
        if (res.status !== 503) throw last;
      } catch (error) {
        if (error instanceof SseClientError && error.status !== 503) throw error;
        if (!(error instanceof SseClientError)) last = new SseClientError(0, `${route} failed: ${String(error)}`);
      }
    }
    throw last;
  }
}

function hexKey(hex: string): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(hex.trim())) throw new Error("secret must be 64 hex characters");
  return hexToBytes(hex.trim());
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Types of sse-server's browser client (./client.js). */

/** Returns the URL to open now; called again for every connection (a fresh token each time). */
export type UrlFunction = () => string | URL | Promise<string | URL>;

export interface SubscribeOptions {
  /** Resume after this id (e.g. one kept across a page reload). */
  readonly lastEventId?: string;
  /**
   * One connection per browser for this source, relayed to every tab (default true).
   * Needs Web Locks and BroadcastChannel; without them each tab connects itself.
   */
  readonly share?: boolean;
  /** What identifies the shared connection; by default the source URL. A URL function is shared only with one. */
  readonly shareKey?: string;
  /** Backoff after failures: full jitter up to min(cap, base·2^failures); defaults 1000 and 30000 ms. */
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
  /** For tests: the random source of the jitter. */
  readonly random?: () => number;
}

/** The `error` event: `status` is the HTTP status when the server answered without a stream. */
export interface SubscriptionErrorEvent extends Event {
  readonly status?: number;
  readonly message: string;
}

export interface SubscriptionEventMap {
  open: Event;
  error: SubscriptionErrorEvent;
  /**
   * The stream may have a gap: resync. `data` says why: the server's reason (`evicted`,
   * `unknown-id`, `history-off`, `no-prefix-replay`), or `taken-over` (this tab led a
   * shared stream, fell silent, e.g. frozen, and another tab took it over and relayed
   * more than this tab could keep meanwhile).
   */
  reset: MessageEvent<string>;
  message: MessageEvent<string>;
}

export interface Subscription extends EventTarget {
  /** The id of the last event received ("" before any). */
  readonly lastEventId: string;
  addEventListener<K extends keyof SubscriptionEventMap>(
    type: K,
    listener: (event: SubscriptionEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** A named event (`event: name` on the wire). */
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof SubscriptionEventMap>(
    type: K,
    listener: (event: SubscriptionEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: (event: MessageEvent<string>) => void, options?: boolean | EventListenerOptions): void;
  /** Ends the stream (or this tab's share of it) for good. */
  close(): void;
}

export function subscribe(source: string | URL | UrlFunction, options?: SubscribeOptions): Subscription;

/** One `text/event-stream` message as the parser dispatches it; `data` is absent when it had no `data:` line. */
export interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
}

export interface SseParser {
  feed(text: string): void;
  reset(): void;
}

export function createSseParser(
  onMessage: (message: SseMessage) => void,
  onRetry?: (ms: number) => void,
  onComment?: (text: string) => void,
): SseParser;

export interface BackoffOptions {
  readonly baseMs: number;
  readonly capMs: number;
  readonly serverRetryMs?: number;
}

export function backoffDelay(failures: number, options: BackoffOptions, random?: () => number): number;

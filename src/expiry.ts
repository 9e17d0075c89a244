/**
 * Ends streams when their token expires (SSE_CLOSE_ON_EXPIRY), so that access that was
 * revoked by letting its token run out does not live on in open streams. One timer, ticking
 * once a second while any stream is watched; streams are kept in buckets by the second
 * their token expires in, so a tick touches only the streams it ends.
 */
export interface Expiring {
  /** The token ran out: say so and end. */
  expire(): void;
}

export class ExpiryWatch {
  readonly #buckets = new Map<number, Set<Expiring>>();
  #watched = 0;
  /** The first second whose bucket has not been ended yet. */
  #next = Number.POSITIVE_INFINITY;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly nowSeconds: () => number = () => Date.now() / 1000) {}

  /**
   * Ends `stream` once the clock has passed `lastValidSecond` (a token is valid while
   * timestamp + TTL >= now). Returns what stops watching it (when it ends on its own).
   */
  watch(stream: Expiring, lastValidSecond: number): () => void {
    let bucket = this.#buckets.get(lastValidSecond);
    if (!bucket) this.#buckets.set(lastValidSecond, (bucket = new Set()));
    bucket.add(stream);
    this.#watched++;
    this.#next = Math.min(this.#next, lastValidSecond);
    this.#timer ??= startTicking(() => this.tick());
    return () => {
      if (bucket.delete(stream)) this.#forget(1);
    };
  }

  /** Ends every stream whose token has run out by now (the timer calls it each second). */
  tick(): void {
    const now = Math.floor(this.nowSeconds());
    for (; this.#next < now && this.#watched > 0; this.#next++) {
      const bucket = this.#buckets.get(this.#next);
      if (!bucket) continue;
      this.#buckets.delete(this.#next);
      const streams = [...bucket];
      bucket.clear(); // so that a stream's own unwatching, as it ends, finds nothing to do
      this.#forget(streams.length);
      for (const stream of streams) stream.expire();
    }
  }

  /** Stops the timer; the streams are left as they are. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #forget(count: number): void {
    this.#watched -= count;
    if (this.#watched > 0) return;
    this.close();
    this.#buckets.clear();
    this.#next = Number.POSITIVE_INFINITY;
  }
}

function startTicking(tick: () => void): ReturnType<typeof setInterval> {
  const timer = setInterval(tick, 1000);
  // The server's sockets keep the process alive, not this (Node, Bun; Deno's have no unref).
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

/**
 * Submission ids accepted lately, in one process (the memory transport's idempotency).
 * Bounded in time and size: an id is forgotten once its TTL has passed, and past
 * `capacity` ids the oldest is forgotten first (a retry of it would then be delivered again).
 */
export const RECENT_IDS_CAPACITY = 100_000;

export class RecentIds {
  /** id → when it expires (ms). Insertion order is claim order, which with one TTL is expiry order. */
  readonly #expiry = new Map<string, number>();
  readonly #capacity: number;
  readonly #now: () => number;

  constructor(capacity = RECENT_IDS_CAPACITY, now: () => number = () => performance.now()) {
    this.#capacity = capacity;
    this.#now = now;
  }

  get size(): number {
    return this.#expiry.size;
  }

  /** True if `id` is new (and now remembered for `ttlMs`); false if it was claimed within its TTL. */
  claim(id: string, ttlMs: number): boolean {
    const now = this.#now();
    this.#forgetExpired(now);
    const expires = this.#expiry.get(id);
    if (expires !== undefined && expires > now) return false;
    this.#expiry.delete(id); // re-added at the end, where the newest are
    this.#expiry.set(id, now + ttlMs);
    if (this.#expiry.size > this.#capacity) this.#expiry.delete(this.#expiry.keys().next().value!);
    return true;
  }

  /** Drops expired ids from the oldest end; stops at the first live one (amortised O(1) a claim). */
  #forgetExpired(now: number): void {
    for (const [id, expires] of this.#expiry) {
      if (expires > now) return;
      this.#expiry.delete(id);
    }
  }
}

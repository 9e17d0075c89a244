/**
 * Prefix grants: a stream may hear every topic that starts with one of its prefixes.
 *
 * `normalizeGrants` makes one stream's grants disjoint (no topic under one of its
 * prefixes, no prefix under another), so an event matches at most one grant of a stream
 * and reaches it once without any per-event dedupe. `PrefixIndex` finds the prefixes an
 * event's topic starts with at a cost that depends on the topic and on how many
 * distinct prefix *lengths* are registered, never on how many prefixes are.
 */

export interface Grants {
  /** Distinct topics, none under one of `prefixes`. */
  readonly topics: readonly string[];
  /** Distinct non-empty prefixes, none under another. */
  readonly prefixes: readonly string[];
}

/**
 * The same union of topics as `topics` plus everything under `prefixes`, with no grant
 * covering another, each kept in the order first named. O(n × distinct prefix lengths).
 */
export function normalizeGrants(topics: readonly string[], prefixes: readonly string[]): Grants {
  if (prefixes.length === 0) return { topics: [...new Set(topics)], prefixes: [] };
  const distinct = [...new Set(prefixes)];
  // Shortest first: a prefix is kept only if no kept one is a prefix of it.
  const kept = prefixIndexOf([]);
  for (const prefix of [...distinct].sort((a, b) => a.length - b.length)) {
    if (!kept.matchesAny(prefix)) kept.set(prefix, true);
  }
  return {
    topics: [...new Set(topics)].filter((topic) => !kept.matchesAny(topic)),
    prefixes: distinct.filter((prefix) => kept.get(prefix) !== undefined),
  };
}

/** An index of `prefixes`, to ask whether a topic is under one of them. */
export function prefixIndexOf(prefixes: readonly string[]): PrefixIndex<true> {
  const index = new PrefixIndex<true>();
  for (const prefix of prefixes) index.set(prefix, true);
  return index;
}

/**
 * Values keyed by prefix, looked up by topic: for a topic, each registered prefix it
 * starts with. Prefixes are grouped by length, so a lookup is one map probe per distinct
 * registered length up to the topic's length.
 */
export class PrefixIndex<V> {
  readonly #byPrefix = new Map<string, V>();
  /** How many registered prefixes have each length. */
  readonly #lengthCounts = new Map<number, number>();
  /** The registered lengths, ascending. */
  #lengths: number[] = [];

  get size(): number {
    return this.#byPrefix.size;
  }

  entries(): IterableIterator<[string, V]> {
    return this.#byPrefix.entries();
  }

  get(prefix: string): V | undefined {
    return this.#byPrefix.get(prefix);
  }

  set(prefix: string, value: V): void {
    if (!this.#byPrefix.has(prefix)) {
      const count = this.#lengthCounts.get(prefix.length) ?? 0;
      this.#lengthCounts.set(prefix.length, count + 1);
      if (count === 0) this.#lengths = [...this.#lengthCounts.keys()].sort((a, b) => a - b);
    }
    this.#byPrefix.set(prefix, value);
  }

  delete(prefix: string): void {
    if (!this.#byPrefix.delete(prefix)) return;
    const count = this.#lengthCounts.get(prefix.length)! - 1;
    if (count > 0) this.#lengthCounts.set(prefix.length, count);
    else {
      this.#lengthCounts.delete(prefix.length);
      this.#lengths = this.#lengths.filter((length) => length !== prefix.length);
    }
  }

  /**
   * Writes the value of each registered prefix of `topic` into `out` from index 0,
   * shortest first, and returns how many (`out` is the caller's, reused: no allocation).
   */
  collect(topic: string, out: V[]): number {
    const lengths = this.#lengths;
    let found = 0;
    for (let i = 0; i < lengths.length; i++) {
      const length = lengths[i]!;
      if (length > topic.length) break;
      const value = this.#byPrefix.get(length === topic.length ? topic : topic.slice(0, length));
      if (value !== undefined) out[found++] = value;
    }
    return found;
  }

  /** Whether `topic` starts with a registered prefix. */
  matchesAny(topic: string): boolean {
    const lengths = this.#lengths;
    for (let i = 0; i < lengths.length; i++) {
      const length = lengths[i]!;
      if (length > topic.length) return false;
      if (this.#byPrefix.has(length === topic.length ? topic : topic.slice(0, length))) return true;
    }
    return false;
  }
}

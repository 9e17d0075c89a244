/**
 * Recent events, so that a reconnecting client can resume where it left off.
 *
 * The process's own history: alone, or in a Redis Cluster (on one Redis node the history
 * is shared, in Redis: src/transport/redis/history.ts).
 *
 * Every event gets a position: a sequence number, global to this process, so one number
 * says how far a stream got in all of its topics at once. The public id is
 * `<epoch>-<seq>` (base 36, see position.ts), the epoch being random per process, so that
 * an id from another process or an earlier run is recognised as unknown rather than misread.
 *
 * History is bounded per topic (count), in age, and in total bytes. Resuming is only
 * promised when nothing the client could have missed was evicted — or, in a Redis Cluster,
 * went by while this process was not receiving the topic; otherwise the caller is told
 * there is a gap, and says so to the client.
 */
import { formatId, randomEpoch } from "./position.ts";
import { prefixIndexOf, type PrefixIndex } from "./prefixes.ts";
import { encodeEvent } from "./sse.ts";

export interface HistoryLimits {
  /** Events kept per topic (at least 1; with history off there is no History at all). */
  readonly perTopic: number;
  readonly maxAgeMs: number;
  readonly maxBytes: number;
}

/** A stored event, its frame already carrying its `id:`. */
export interface Entry {
  readonly seq: number;
  readonly topic: string;
  readonly frame: Uint8Array;
  readonly time: number;
  evicted: boolean;
}

export type ResumeResult =
  | { readonly ok: true; readonly entries: readonly Entry[] }
  | { readonly ok: false; readonly reason: GapReason };

/** Why a resume cannot be served; sent to the client as the data of the `reset` event. */
export type GapReason = "history-off" | "unknown-id" | "evicted" | "no-prefix-replay";

/** Per-entry bookkeeping beyond the frame's bytes, for the memory bound. */
const ENTRY_OVERHEAD = 192; // measured: 150-200 bytes of heap per kept event beyond its frame (bench/history-cost.ts)

export class History {
  readonly epoch: string;
  readonly #limits: HistoryLimits;
  readonly #clock: () => number;
  readonly #topics = new Map<string, TopicLog>();
  /** Every live entry in seq order (plus evicted ones not yet swept), for age and byte eviction. */
  readonly #all = new Deque<Entry>();
  #seq = 0;
  /** The highest seq evicted by age or memory, in any topic. */
  #floor = 0;
  #bytes = 0;
  #garbage = 0;
  /**
   * With a transport that receives only some topics (Redis), the topics it receives now;
   * undefined when every event of every topic passes through this process.
   */
  readonly #covered: Set<string> | undefined;

  constructor(
    limits: HistoryLimits,
    options: { clock?: () => number; epoch?: string; partialCoverage?: boolean } = {},
  ) {
    this.#limits = limits;
    this.#clock = options.clock ?? Date.now;
    this.epoch = options.epoch ?? randomEpoch();
    this.#covered = options.partialCoverage ? new Set() : undefined;
  }

  /** From now on `topic`'s events arrive here; what came before may be missing. */
  coverageGained(topic: string): void {
    if (!this.#covered) return;
    this.#covered.add(topic);
    let log = this.#topics.get(topic);
    if (!log) this.#topics.set(topic, (log = new TopicLog()));
    // A position of its own: what was missed lies before it, even if no event was numbered
    // here meanwhile, so a client that saw the previous position cannot resume past the gap.
    log.evictedUpTo = ++this.#seq;
  }

  /** `topic` (every topic if omitted) no longer arrives here. */
  coverageLost(topic?: string): void {
    if (topic === undefined) this.#covered?.clear();
    else this.#covered?.delete(topic);
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Topics with something kept (or an eviction point still needed). */
  get topicCount(): number {
    return this.#topics.size;
  }

  get size(): number {
    return this.#all.length - this.#garbage;
  }

  /** The id of the newest event, i.e. "everything up to now". */
  get currentId(): string {
    return this.idOf(this.#seq);
  }

  idOf(seq: number): string {
    return formatId(this.epoch, seq);
  }

  /** Numbers an event and keeps it. Returns its framed bytes, `id:` included. */
  append(topic: string, event: string, data: string): Uint8Array {
    const seq = ++this.#seq;
    const frame = encodeEvent(event, data, this.idOf(seq));
    const time = this.#clock();
    const entry: Entry = { seq, topic, frame, time, evicted: false };
    let log = this.#topics.get(topic);
    if (!log) this.#topics.set(topic, (log = new TopicLog()));
    log.entries.push(entry);
    this.#all.push(entry);
    this.#bytes += frame.length + ENTRY_OVERHEAD;
    if (log.entries.length > this.#limits.perTopic) this.#evictFromTopic(log);
    this.#sweep(time);
    return frame;
  }

  /**
   * What a client that last saw `lastId` has missed in `topics` (and, with `prefixes`, in
   * every topic under one of them), in order; or why that cannot be told. An id from the
   * future or another epoch is unknown.
   */
  resume(topics: readonly string[], lastId: string, prefixes: readonly string[] = []): ResumeResult {
    const seq = this.#parse(lastId);
    if (seq === undefined) return { ok: false, reason: "unknown-id" };
    this.#sweep(this.#clock());
    if (prefixes.length > 0) return this.#resumePrefixes(new Set(topics), prefixIndexOf(prefixes), seq);
    const missed: Entry[] = [];
    for (const topic of topics) {
      if (this.#covered && !this.#covered.has(topic)) return { ok: false, reason: "evicted" };
      const log = this.#topics.get(topic);
      if (Math.max(this.#floor, log?.evictedUpTo ?? 0) > seq) return { ok: false, reason: "evicted" };
      if (log) log.collectAfter(seq, missed);
    }
    // Each topic's run is in order; several topics interleave by position.
    if (topics.length > 1) missed.sort((a, b) => a.seq - b.seq);
    return { ok: true, entries: missed };
  }

  /**
   * A prefix grant names no list of topics, so the kept events after `seq`, of every
   * topic, are read in order and those granted are taken: the cost is the number of
   * events kept since the client's id, whatever the number of topics. A topic that lost
   * an event after `seq` to its count bound kept newer ones, still here (else the age or
   * byte floor, checked first, is past `seq`): reading those finds the gap.
   */
  #resumePrefixes(topics: ReadonlySet<string>, prefixes: PrefixIndex<true>, seq: number): ResumeResult {
    // Coverage is tracked per topic only (prefix grants are not served in a Redis Cluster).
    if (this.#covered) return { ok: false, reason: "evicted" };
    if (this.#floor > seq) return { ok: false, reason: "evicted" };
    const missed: Entry[] = [];
    for (let i = this.#all.firstAfter(seq); i < this.#all.length; i++) {
      const entry = this.#all.at(i);
      if (entry.evicted || !(topics.has(entry.topic) || prefixes.matchesAny(entry.topic))) continue;
      if (this.#topics.get(entry.topic)!.evictedUpTo > seq) return { ok: false, reason: "evicted" };
      missed.push(entry);
    }
    return { ok: true, entries: missed };
  }

  /** Drops what has aged out; called on each append and from the heartbeat tick. */
  sweep(): void {
    this.#sweep(this.#clock());
  }

  #parse(id: string): number | undefined {
    const dash = id.lastIndexOf("-");
    if (dash < 0 || id.slice(0, dash) !== this.epoch) return undefined;
    const digits = id.slice(dash + 1);
    if (!/^[0-9a-z]{1,11}$/.test(digits)) return undefined;
    const seq = parseInt(digits, 36);
    return seq <= this.#seq ? seq : undefined;
  }

  #evictFromTopic(log: TopicLog): void {
    const entry = log.entries.shift()!;
    log.evictedUpTo = entry.seq;
    this.#drop(entry);
    this.#garbage++;
    // Entries evicted per topic stay in #all until swept; compact when they dominate.
    if (this.#garbage > 1024 && this.#garbage > this.#all.length / 2) {
      this.#all.retain((e) => !e.evicted);
      this.#garbage = 0;
    }
  }

  #sweep(now: number): void {
    const oldest = now - this.#limits.maxAgeMs;
    for (;;) {
      const head = this.#all.peek();
      if (!head) return;
      if (head.evicted) {
        this.#all.shift();
        this.#garbage--;
        continue;
      }
      if (head.time >= oldest && this.#bytes <= this.#limits.maxBytes) return;
      this.#all.shift();
      this.#floor = head.seq;
      const log = this.#topics.get(head.topic)!;
      log.entries.shift(); // the globally oldest live entry is the oldest of its topic
      this.#drop(head);
      if (log.entries.length === 0 && log.evictedUpTo <= this.#floor) this.#topics.delete(head.topic);
    }
  }

  #drop(entry: Entry): void {
    entry.evicted = true;
    this.#bytes -= entry.frame.length + ENTRY_OVERHEAD;
  }
}

class TopicLog {
  readonly entries = new Deque<Entry>();
  /** The highest seq this topic lost to its count bound. */
  evictedUpTo = 0;

  /** Appends the entries after `seq` to `out`, by binary search on the ordered log. */
  collectAfter(seq: number, out: Entry[]): void {
    for (let i = this.entries.firstAfter(seq); i < this.entries.length; i++) out.push(this.entries.at(i));
  }
}

/** An array with O(1) amortised shift: a moving head, compacted now and then. */
class Deque<T> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  peek(): T | undefined {
    return this.#head < this.#items.length ? this.#items[this.#head] : undefined;
  }

  at(index: number): T {
    return this.#items[this.#head + index]!;
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined as T; // let it be collected
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** The index of the first item whose seq is above `seq` (items in seq order), by binary search. */
  firstAfter(this: Deque<Entry>, seq: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid).seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  retain(keep: (item: T) => boolean): void {
    this.#items = this.#items.slice(this.#head).filter(keep);
    this.#head = 0;
  }
}

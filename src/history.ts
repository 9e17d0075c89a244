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
import { Journal, NONE, RECORD_BYTES } from "./journal.ts";
import { asciiFrameBound, encodeEvent, writeAsciiFrame } from "./sse.ts";

export interface HistoryLimits {
  /** Events kept per topic (at least 1; with history off there is no History at all). */
  readonly perTopic: number;
  readonly maxAgeMs: number;
  readonly maxBytes: number;
}

/** A kept event, as a resume hands it back: its frame carries its `id:`. */
export interface Entry {
  readonly seq: number;
  readonly topic: string;
  readonly frame: Uint8Array;
}

export type ResumeResult =
  | { readonly ok: true; readonly entries: readonly Entry[] }
  | { readonly ok: false; readonly reason: GapReason };

/** Why a resume cannot be served; sent to the client as the data of the `reset` event. */
export type GapReason = "history-off" | "unknown-id" | "evicted" | "no-prefix-replay";

/**
 * What one kept event costs beyond its frame, for the memory bound: its journal record,
 * with room for the record array's spare capacity (it doubles as it grows).
 */
const SLOT_BYTES = 2 * RECORD_BYTES;

export class History {
  readonly epoch: string;
  readonly #limits: HistoryLimits;
  readonly #clock: () => number;
  readonly #journal = new Journal();
  /** Topics with something kept (or an eviction point still needed), by the number the journal knows them by. */
  readonly #topicNumbers = new Map<string, number>();
  readonly #topicNames: (string | undefined)[] = [];
  /** Per topic number: the highest seq the topic lost to its count bound. */
  readonly #evictedUpTo: number[] = [];
  readonly #freeNumbers: number[] = [];
  #seq = 0;
  /** The highest seq evicted by age or memory, in any topic. */
  #floor = 0;
  /**
   * With a transport that receives only some topics (Redis), the topics it receives now;
   * undefined when every event of every topic passes through this process.
   */
  readonly #covered: Set<string> | undefined;
  /** Every id but its last part: `<epoch>-`. */
  readonly #idPrefix: string;
  /** Whether frames can be written in place (writeAsciiFrame): a random epoch is, one given need not be. */
  readonly #asciiIds: boolean;

  constructor(
    limits: HistoryLimits,
    options: { clock?: () => number; epoch?: string; partialCoverage?: boolean } = {},
  ) {
    this.#limits = limits;
    this.#clock = options.clock ?? Date.now;
    this.epoch = options.epoch ?? randomEpoch();
    this.#idPrefix = formatId(this.epoch, 0).slice(0, -1);
    this.#asciiIds = /^[\x00-\x7f]*$/.test(this.#idPrefix);
    this.#covered = options.partialCoverage ? new Set() : undefined;
  }

  /** From now on `topic`'s events arrive here; what came before may be missing. */
  coverageGained(topic: string): void {
    if (!this.#covered) return;
    this.#covered.add(topic);
    // A position of its own: what was missed lies before it, even if no event was numbered
    // here meanwhile, so a client that saw the previous position cannot resume past the gap.
    this.#evictedUpTo[this.#numberOf(topic)] = ++this.#seq;
  }

  /** `topic` (every topic if omitted) no longer arrives here. */
  coverageLost(topic?: string): void {
    if (topic === undefined) this.#covered?.clear();
    else this.#covered?.delete(topic);
  }

  /** What the kept events are accounted to take: their frames, and SLOT_BYTES each. */
  get bytes(): number {
    return this.#journal.frameBytes + this.#journal.size * SLOT_BYTES;
  }

  /** Topics with something kept (or an eviction point still needed). */
  get topicCount(): number {
    return this.#topicNumbers.size;
  }

  get size(): number {
    return this.#journal.size;
  }

  /** The id of the newest event, i.e. "everything up to now". */
  get currentId(): string {
    return this.idOf(this.#seq);
  }

  idOf(seq: number): string {
    return formatId(this.epoch, seq);
  }

  /**
   * Numbers an event and keeps it. With `framed`, returns its frame (`id:` included) for
   * the streams that take it now; else the frame is only written where it is kept.
   */
  append(topic: string, event: string, data: string, framed: false): undefined;
  append(topic: string, event: string, data: string, framed?: true): Uint8Array;
  append(topic: string, event: string, data: string, framed?: boolean): Uint8Array | undefined;
  append(topic: string, event: string, data: string, framed = true): Uint8Array | undefined {
    const seq = ++this.#seq;
    const time = this.#clock();
    const number = this.#numberOf(topic);
    const frame = framed ? encodeEvent(event, data, this.idOf(seq)) : undefined;
    if (frame || !this.#asciiIds || !this.#writeKept(seq, time, number, event, data)) {
      this.#journal.append(seq, time, number, frame ?? encodeEvent(event, data, this.idOf(seq)));
    }
    if (this.#journal.countOf(number) > this.#limits.perTopic) this.#evictedUpTo[number] = this.#journal.dropOldestOf(number);
    this.#sweep(time);
    return frame;
  }

  /** Writes an ASCII one-line event's frame straight where it is kept; false if it is not one. */
  #writeKept(seq: number, time: number, number: number, event: string, data: string): boolean {
    const journal = this.#journal;
    const chunk = journal.reserve(asciiFrameBound(this.#idPrefix, event, data));
    const length = writeAsciiFrame(chunk, journal.writeOffset, this.#idPrefix, seq, event, data);
    if (length < 0) return false;
    journal.commit(seq, time, number, length);
    return true;
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
      const number = this.#topicNumbers.get(topic);
      const evictedUpTo = number === undefined ? 0 : this.#evictedUpTo[number]!;
      if (Math.max(this.#floor, evictedUpTo) > seq) return { ok: false, reason: "evicted" };
      if (number !== undefined) this.#collectAfter(topic, number, seq, missed);
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
    const journal = this.#journal;
    const missed: Entry[] = [];
    for (let slot = journal.firstAfter(seq); slot < journal.end; slot++) {
      if (journal.isDead(slot)) continue;
      const number = journal.topicOf(slot);
      const topic = this.#topicNames[number]!;
      if (!(topics.has(topic) || prefixes.matchesAny(topic))) continue;
      if (this.#evictedUpTo[number]! > seq) return { ok: false, reason: "evicted" };
      missed.push({ seq: journal.seqOf(slot), topic, frame: journal.frameOf(slot) });
    }
    return { ok: true, entries: missed };
  }

  /** Appends `topic`'s kept events after `seq` to `out`, in order: read newest first, back to `seq`. */
  #collectAfter(topic: string, number: number, seq: number, out: Entry[]): void {
    const journal = this.#journal;
    const from = out.length;
    for (let slot = journal.newestOf(number); slot !== NONE && journal.seqOf(slot) > seq; slot = journal.previousInTopic(slot)) {
      out.push({ seq: journal.seqOf(slot), topic, frame: journal.frameOf(slot) });
    }
    for (let i = from, j = out.length - 1; i < j; i++, j--) [out[i], out[j]] = [out[j]!, out[i]!];
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

  /** The number the journal knows `topic` by, given one if it has none. */
  #numberOf(topic: string): number {
    let number = this.#topicNumbers.get(topic);
    if (number !== undefined) return number;
    number = this.#freeNumbers.pop() ?? this.#topicNames.length;
    this.#topicNumbers.set(topic, number);
    this.#topicNames[number] = topic;
    this.#evictedUpTo[number] = 0;
    return number;
  }

  #sweep(now: number): void {
    const oldest = now - this.#limits.maxAgeMs;
    const journal = this.#journal;
    for (let slot = journal.oldest(); slot !== NONE; slot = journal.oldest()) {
      if (journal.timeOf(slot) >= oldest && this.bytes <= this.#limits.maxBytes) return;
      this.#floor = journal.seqOf(slot);
      const number = journal.topicOf(slot);
      journal.dropOldest(); // the globally oldest live event is the oldest of its topic
      if (journal.countOf(number) === 0 && this.#evictedUpTo[number]! <= this.#floor) this.#forget(number);
    }
  }

  /** A topic with nothing kept and no eviction point a client could still be told of. */
  #forget(number: number): void {
    this.#topicNumbers.delete(this.#topicNames[number]!);
    this.#topicNames[number] = undefined;
    this.#freeNumbers.push(number);
  }
}

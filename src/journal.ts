/**
 * Where the history (./history.ts) keeps its events: in the order they were numbered, in
 * a few large arrays instead of an object and an ArrayBuffer per event. Kept that way,
 * hundreds of thousands of events are a handful of objects to the garbage collector,
 * which otherwise traces every one of them again and again, on the submit path's CPU
 * (BENCHMARKS.md, "Submitting").
 *
 * A slot is one kept event: a record of eight numbers (64 bytes, one cache line) at
 * `slot % capacity` of one Float64Array, slots numbered in append order. Keeping an
 * event touches, besides the new record, the record of its topic's newest (to chain it)
 * and, at the count bound, of its topic's oldest: with thousands of topics those are the
 * cache misses, so each is one line. A frame's bytes are copied into the current chunk (a
 * Uint8Array filled in order), so chunks empty oldest first and are let go as the oldest
 * slot moves past them. Each topic's slots are chained, so a topic's events are found
 * without reading any other topic's.
 *
 * Dropping the oldest slot is O(1). Dropping a topic's oldest (its count bound) leaves a
 * dead slot, and dead bytes, behind; once the dead outnumber the live, the live slots are
 * copied into a fresh record array and chunks, so what is held stays within about twice
 * what is live.
 */

/** No slot (an empty chain's end). */
export const NONE = -1;
/** Frames are copied into chunks of this size (a bigger frame gets a chunk of its own). */
const CHUNK_BYTES = 256 * 1024;
const MIN_CAPACITY = 1024;
/** Dead slots tolerated before a compaction is considered, so small journals do not compact at every drop. */
const MIN_DEAD = 1024;

/** A record's fields. TOPIC is -1 in a dead slot. PREVIOUS is only read back to the topic's oldest. */
const SEQ = 0;
const TIME = 1;
const CHUNK = 2;
const OFFSET = 3;
const LENGTH = 4;
const TOPIC = 5;
const PREVIOUS = 6;
const NEXT = 7;
const FIELDS = 8;

/** Bytes of a slot's record. */
export const RECORD_BYTES = FIELDS * Float64Array.BYTES_PER_ELEMENT;

export class Journal {
  #capacity = MIN_CAPACITY;
  #records = new Float64Array(MIN_CAPACITY * FIELDS);
  /** Slots [head, tail) are held: live ones and dead ones not yet passed or compacted away. */
  #head = 0;
  #tail = 0;
  #deadSlots = 0;
  #liveBytes = 0;
  #deadBytes = 0;

  /** Chunks still referenced by a held slot; `#chunks[0]` is chunk number `#chunkBase`. */
  #chunks: Uint8Array[] = [];
  #chunkBase = 0;
  /** Bytes used of the newest chunk. */
  #fill = 0;

  /** Per topic number (see History): its oldest and newest slots, and how many are live. */
  #first = new Float64Array(64).fill(NONE);
  #last = new Float64Array(64).fill(NONE);
  #count = new Int32Array(64);

  /** Live slots. */
  get size(): number {
    return this.#tail - this.#head - this.#deadSlots;
  }

  /** Bytes of live frames. */
  get frameBytes(): number {
    return this.#liveBytes;
  }

  /** Bytes of the chunks held (live frames, dead ones not yet let go, room not yet written). */
  get chunkBytes(): number {
    let bytes = 0;
    for (const chunk of this.#chunks) bytes += chunk.length;
    return bytes;
  }

  /** One past the newest slot: slots run from `firstAfter(...)` up to this. */
  get end(): number {
    return this.#tail;
  }

  /** Keeps an event's frame (copied) as the newest slot of `topic` (a small non-negative number). */
  append(seq: number, time: number, topic: number, frame: Uint8Array): void {
    this.reserve(frame.length).set(frame, this.#fill);
    this.commit(seq, time, topic, frame.length);
  }

  /**
   * The chunk to write the next frame into, at `writeOffset`, with room for `length`
   * bytes: a frame can be written where it is kept, with no array of its own. `commit` keeps it.
   */
  reserve(length: number): Uint8Array {
    const newest = this.#chunks.length - 1;
    const chunk = this.#chunks[newest];
    if (chunk !== undefined && this.#fill + length <= chunk.length) return chunk;
    const opened = new Uint8Array(Math.max(CHUNK_BYTES, length));
    // A newest chunk still empty holds no frame (a reservation not kept): replaced, not left behind.
    if (chunk !== undefined && this.#fill === 0) this.#chunks[newest] = opened;
    else this.#chunks.push(opened);
    this.#fill = 0;
    return opened;
  }

  get writeOffset(): number {
    return this.#fill;
  }

  /** Keeps the `length` bytes just written at `writeOffset` (after `reserve`) as the newest slot of `topic`. */
  commit(seq: number, time: number, topic: number, length: number): void {
    if (this.#tail - this.#head === this.#capacity) this.#resize(this.#capacity * 2);
    if (topic >= this.#first.length) this.#growTopics(topic);
    const slot = this.#tail++;
    const r = this.#records;
    const at = (slot % this.#capacity) * FIELDS;
    const last = this.#last[topic]!;
    r[at + SEQ] = seq;
    r[at + TIME] = time;
    r[at + CHUNK] = this.#chunkBase + this.#chunks.length - 1;
    r[at + OFFSET] = this.#fill;
    r[at + LENGTH] = length;
    r[at + TOPIC] = topic;
    r[at + PREVIOUS] = last;
    r[at + NEXT] = NONE;
    if (last === NONE) this.#first[topic] = slot;
    else r[this.#at(last) + NEXT] = slot;
    this.#last[topic] = slot;
    this.#count[topic]!++;
    this.#fill += length;
    this.#liveBytes += length;
  }

  /** The oldest held slot that is live (dead ones before it are let go), or NONE. */
  oldest(): number {
    const r = this.#records;
    while (this.#head < this.#tail && r[this.#at(this.#head) + TOPIC]! < 0) {
      this.#deadSlots--;
      this.#deadBytes -= r[this.#at(this.#head) + LENGTH]!;
      this.#head++;
    }
    this.#releaseChunks();
    return this.#head < this.#tail ? this.#head : NONE;
  }

  /** Drops the oldest slot, which `oldest()` just returned (it is also its topic's oldest). */
  dropOldest(): void {
    const at = this.#at(this.#head);
    this.#unchainFirst(this.#records[at + TOPIC]!, at);
    this.#liveBytes -= this.#records[at + LENGTH]!;
    this.#head++;
    this.#releaseChunks();
  }

  /** Drops `topic`'s oldest slot and returns its seq; it stays behind, dead, until passed or compacted. */
  dropOldestOf(topic: number): number {
    const r = this.#records;
    const at = this.#at(this.#first[topic]!);
    this.#unchainFirst(topic, at);
    r[at + TOPIC] = -1;
    this.#deadSlots++;
    this.#liveBytes -= r[at + LENGTH]!;
    this.#deadBytes += r[at + LENGTH]!;
    const seq = r[at + SEQ]!;
    if (this.#deadSlots > Math.max(MIN_DEAD, this.size) || this.#deadBytes > Math.max(CHUNK_BYTES, this.#liveBytes)) this.#compact();
    return seq;
  }

  countOf(topic: number): number {
    return topic < this.#count.length ? this.#count[topic]! : 0;
  }

  newestOf(topic: number): number {
    return topic < this.#last.length ? this.#last[topic]! : NONE;
  }

  /** The live slot before `slot` in its topic, or NONE (`slot` is its topic's oldest). */
  previousInTopic(slot: number): number {
    const at = this.#at(slot);
    return this.#first[this.#records[at + TOPIC]!] === slot ? NONE : this.#records[at + PREVIOUS]!;
  }

  seqOf(slot: number): number {
    return this.#records[this.#at(slot) + SEQ]!;
  }

  timeOf(slot: number): number {
    return this.#records[this.#at(slot) + TIME]!;
  }

  topicOf(slot: number): number {
    return this.#records[this.#at(slot) + TOPIC]!;
  }

  isDead(slot: number): boolean {
    return this.#records[this.#at(slot) + TOPIC]! < 0;
  }

  /** A copy of the slot's frame (a copy: chunks are let go as a whole). */
  frameOf(slot: number): Uint8Array {
    const r = this.#records;
    const at = this.#at(slot);
    const offset = r[at + OFFSET]!;
    return this.#chunks[r[at + CHUNK]! - this.#chunkBase]!.slice(offset, offset + r[at + LENGTH]!);
  }

  /** The first held slot whose seq is above `seq` (held slots are in seq order), by binary search. */
  firstAfter(seq: number): number {
    let lo = this.#head;
    let hi = this.#tail;
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (this.seqOf(mid) <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Where a slot's record starts. */
  #at(slot: number): number {
    return (slot % this.#capacity) * FIELDS;
  }

  /**
   * Unchains `topic`'s oldest slot (its record at `at`). The new oldest's PREVIOUS is left
   * as it was (not read past a topic's oldest), which spares a cache miss per drop.
   */
  #unchainFirst(topic: number, at: number): void {
    const next = this.#records[at + NEXT]!;
    this.#first[topic] = next;
    if (next === NONE) this.#last[topic] = NONE;
    this.#count[topic]!--;
  }

  /**
   * Lets go of the chunks before the oldest held slot's. With nothing held, the newest is
   * written again from its start, if it is of the usual size (not one made for a big frame).
   */
  #releaseChunks(): void {
    if (this.#head === this.#tail) {
      const newest = this.#chunks[this.#chunks.length - 1];
      const keep = newest?.length === CHUNK_BYTES ? 1 : 0;
      if (this.#chunks.length > keep) {
        this.#chunkBase += this.#chunks.length - keep;
        this.#chunks = keep ? [newest!] : [];
      }
      this.#fill = 0;
      return;
    }
    const oldest = this.#records[this.#at(this.#head) + CHUNK]!;
    if (oldest === this.#chunkBase) return;
    this.#chunks.splice(0, oldest - this.#chunkBase);
    this.#chunkBase = oldest;
  }

  /** Moves the held slots' records into an array of another capacity (slot numbers, and so chains, are kept). */
  #resize(capacity: number): void {
    const records = new Float64Array(capacity * FIELDS);
    for (let slot = this.#head; slot < this.#tail; slot++) {
      const from = this.#at(slot);
      records.set(this.#records.subarray(from, from + FIELDS), (slot % capacity) * FIELDS);
    }
    this.#records = records;
    this.#capacity = capacity;
  }

  #growTopics(topic: number): void {
    const size = Math.max(topic + 1, this.#first.length * 2);
    const grow = (column: Float64Array) => {
      const grown = new Float64Array(size).fill(NONE);
      grown.set(column);
      return grown;
    };
    this.#first = grow(this.#first);
    this.#last = grow(this.#last);
    const count = new Int32Array(size);
    count.set(this.#count);
    this.#count = count;
  }

  /**
   * Copies the live slots, in order, into a fresh record array and chunks, numbered from
   * 0, and chains every topic again: the dead ones and their bytes are gone.
   */
  #compact(): void {
    const old = { records: this.#records, capacity: this.#capacity, head: this.#head, tail: this.#tail, chunks: this.#chunks, chunkBase: this.#chunkBase };
    let capacity = MIN_CAPACITY;
    while (capacity < this.size * 2) capacity *= 2;
    this.#capacity = capacity;
    this.#records = new Float64Array(capacity * FIELDS);
    this.#first.fill(NONE);
    this.#last.fill(NONE);
    this.#count.fill(0);
    this.#head = this.#tail = 0;
    this.#chunks = [];
    this.#chunkBase = this.#fill = 0;
    this.#deadSlots = this.#deadBytes = this.#liveBytes = 0;
    for (let slot = old.head; slot < old.tail; slot++) {
      const at = (slot % old.capacity) * FIELDS;
      const topic = old.records[at + TOPIC]!;
      if (topic < 0) continue;
      const offset = old.records[at + OFFSET]!;
      const frame = old.chunks[old.records[at + CHUNK]! - old.chunkBase]!.subarray(offset, offset + old.records[at + LENGTH]!);
      this.append(old.records[at + SEQ]!, old.records[at + TIME]!, topic, frame);
    }
  }
}

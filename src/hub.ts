/**
 * The topic hub: topic → local subscribers, and prefix → subscribers of every topic under
 * it. Each event is framed once, only if some subscriber wants it, and the same bytes are
 * handed to all of them. Publishing costs one map lookup per event, whatever the number
 * of topics; with prefix grants, one more per distinct prefix length (./prefixes.ts),
 * whatever the number of prefixes.
 */
import type { History } from "./history.ts";
import type { NumberedEvent } from "./position.ts";
import { normalizeGrants, PrefixIndex } from "./prefixes.ts";
import { encodeEvent, HEARTBEAT_FRAME, type SseEvent } from "./sse.ts";

/** A local stream that can take frames. */
export interface Subscriber {
  /**
   * Queues a frame for this subscriber, or disconnects it if it has fallen behind.
   * `position`: the event's, when a shared history numbered it (a starting stream dedupes by it).
   */
  push(frame: Uint8Array, position?: number): void;
  /** Ends the stream (e.g. on shutdown); buffered frames are still sent. */
  end(): void;
  /** Set by push; cleared by each heartbeat tick, so only idle streams get a heartbeat. */
  active: boolean;
}

/** Told when a topic gains its first local subscriber or loses its last one. */
export interface TopicInterest {
  topicOpened(topic: string): void;
  topicClosed(topic: string): void;
  /** A prefix gains its first local subscriber / loses its last one (a transport must then receive every topic under it). */
  prefixOpened?(prefix: string): void;
  prefixClosed?(prefix: string): void;
}

/**
 * A topic's local audience. Most topics (one per user, say) have a single subscriber,
 * which is kept as is: a Set is made only for the second one.
 */
type Audience = Subscriber | Set<Subscriber>;

/** Told, once per stream joining or leaving, which grants' audiences changed size (its topics and prefixes). */
export type AudienceListener = (topics: readonly string[], prefixes: readonly string[]) => void;

export class Hub {
  /** Numbers and keeps events for resuming; undefined when history is off. */
  readonly history: History | undefined;
  readonly #topics = new Map<string, Audience>();
  readonly #prefixes = new PrefixIndex<Audience>();
  /** Scratch for the audiences of the prefixes an event's topic starts with, reused per event. */
  readonly #matched: Audience[] = [];
  readonly #subscribers = new Set<Subscriber>();
  #interest: TopicInterest | undefined;
  #audienceListener: AudienceListener | undefined;
  /** Cumulative counts for metrics, kept as plain numbers: the hot path only adds. */
  deliveries = 0;
  bytesWritten = 0;

  constructor(history?: History) {
    this.history = history;
  }

  /** Registers who hears about topics gaining or losing their local audience. */
  watchInterest(interest: TopicInterest): void {
    this.#interest = interest;
  }

  /** Registers who hears about every change in the size of topics' audiences (presence). */
  watchAudiences(listener: AudienceListener): void {
    this.#audienceListener = listener;
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  get topicCount(): number {
    return this.#topics.size;
  }

  /** Distinct prefixes with local subscribers. */
  get prefixCount(): number {
    return this.#prefixes.size;
  }

  /**
   * The `n` topics with the most local subscribers, most first (ties: first subscribed
   * first). O(topics): for the dashboard's once-a-second sample, never the event path.
   */
  busiestTopics(n: number): { topic: string; subscribers: number }[] {
    const top: { topic: string; subscribers: number }[] = [];
    if (n <= 0) return top;
    for (const [topic, audience] of this.#topics) {
      const subscribers = audience instanceof Set ? audience.size : 1;
      if (top.length === n && subscribers <= top[n - 1]!.subscribers) continue;
      let at = top.length;
      while (at > 0 && top[at - 1]!.subscribers < subscribers) at--;
      top.splice(at, 0, { topic, subscribers });
      if (top.length > n) top.pop();
    }
    return top;
  }

  hasTopic(topic: string): boolean {
    return this.#topics.has(topic);
  }

  hasPrefix(prefix: string): boolean {
    return this.#prefixes.get(prefix) !== undefined;
  }

  /**
   * How many local streams an event of `topic` would reach now: its own subscribers and
   * those of every prefix it starts with (a stream counts once: its grants are disjoint).
   */
  audienceSize(topic: string): number {
    let size = sizeOf(this.#topics.get(topic));
    if (this.#prefixes.size === 0) return size;
    const matched = this.#matched;
    const found = this.#prefixes.collect(topic, matched);
    for (let i = 0; i < found; i++) size += sizeOf(matched[i]);
    matched.fill(undefined as never, 0, found);
    return size;
  }

  /** Local streams holding exactly this grant: the topic, or with `prefix` true, the prefix. */
  grantSize(grant: string, prefix: boolean): number {
    return sizeOf(prefix ? this.#prefixes.get(grant) : this.#topics.get(grant));
  }

  /** Every grant with local streams: the topic or prefix, whether it is a prefix, how many. */
  *grants(): IterableIterator<readonly [string, boolean, number]> {
    for (const [topic, audience] of this.#topics) yield [topic, false, sizeOf(audience)];
    for (const [prefix, audience] of this.#prefixes.entries()) yield [prefix, true, sizeOf(audience)];
  }

  /**
   * `topics` must be distinct (the protocol layer dedupes them). With `prefixes`, the
   * grants are first made disjoint (./prefixes.ts), so that each event reaches the stream once.
   */
  subscribe(subscriber: Subscriber, topics: readonly string[], prefixes: readonly string[] = []): void {
    this.#subscribers.add(subscriber);
    const grants = prefixes.length > 0 ? normalizeGrants(topics, prefixes) : { topics, prefixes };
    for (const topic of grants.topics) {
      if (join(this.#topics, topic, subscriber)) this.#interest?.topicOpened(topic);
    }
    for (const prefix of grants.prefixes) {
      if (join(this.#prefixes, prefix, subscriber)) this.#interest?.prefixOpened?.(prefix);
    }
    this.#audienceListener?.(grants.topics, grants.prefixes);
  }

  /** With the same topics and prefixes it subscribed with. */
  unsubscribe(subscriber: Subscriber, topics: readonly string[], prefixes: readonly string[] = []): void {
    if (!this.#subscribers.delete(subscriber)) return;
    const grants = prefixes.length > 0 ? normalizeGrants(topics, prefixes) : { topics, prefixes };
    for (const topic of grants.topics) {
      if (leave(this.#topics, topic, subscriber)) this.#interest?.topicClosed(topic);
    }
    for (const prefix of grants.prefixes) {
      if (leave(this.#prefixes, prefix, subscriber)) this.#interest?.prefixClosed?.(prefix);
    }
    this.#audienceListener?.(grants.topics, grants.prefixes);
  }

  /** Delivers a batch synchronously, in order, so batches never interleave. */
  dispatch(events: readonly SseEvent[]): number {
    let deliveries = 0;
    for (const { topic, event, data } of events) {
      const audience = this.#topics.get(topic);
      if (this.#prefixes.size > 0) {
        const found = this.#prefixes.collect(topic, this.#matched);
        if (found > 0) {
          const frame = this.history ? this.history.append(topic, event, data) : encodeEvent(event, data);
          deliveries += this.#fanOutAll(audience, found, frame);
          continue;
        }
      }
      // With history, every event is numbered and kept, heard now or not.
      const frame = this.history ? this.history.append(topic, event, data, audience !== undefined) : audience && encodeEvent(event, data);
      if (audience && frame) deliveries += this.#fanOut(audience, frame);
    }
    return deliveries;
  }

  /** Delivers events numbered by a shared history (Redis): framed with their ids, kept nowhere here. */
  dispatchNumbered(events: readonly NumberedEvent[]): number {
    let deliveries = 0;
    for (const { topic, event, data, id, position } of events) {
      const audience = this.#topics.get(topic);
      const found = this.#prefixes.size > 0 ? this.#prefixes.collect(topic, this.#matched) : 0;
      if (found > 0) deliveries += this.#fanOutAll(audience, found, encodeEvent(event, data, id), position);
      else if (audience) deliveries += this.#fanOut(audience, encodeEvent(event, data, id), position);
    }
    return deliveries;
  }

  /** One frame to a topic's own audience (if any) and to the `found` prefix audiences collected in #matched. */
  #fanOutAll(audience: Audience | undefined, found: number, frame: Uint8Array, position?: number): number {
    const matched = this.#matched;
    let deliveries = audience ? this.#fanOut(audience, frame, position) : 0;
    for (let i = 0; i < found; i++) {
      deliveries += this.#fanOut(matched[i]!, frame, position);
      matched[i] = undefined as never; // held no longer than the event
    }
    return deliveries;
  }

  /**
   * The same bytes to every subscriber of a topic; counted for metrics as the frames
   * handed over (a subscriber a push disconnects counts too, whichever form its topic has).
   */
  #fanOut(audience: Audience, frame: Uint8Array, position?: number): number {
    let count = 1;
    if (audience instanceof Set) {
      count = audience.size;
      for (const subscriber of audience) subscriber.push(frame, position);
    } else {
      audience.push(frame, position);
    }
    this.deliveries += count;
    this.bytesWritten += frame.length * count;
    return count;
  }

  /** One tick of the shared heartbeat timer: a comment to each stream idle since the last. */
  heartbeat(): void {
    for (const subscriber of this.#subscribers) {
      if (!subscriber.active) {
        subscriber.push(HEARTBEAT_FRAME);
        this.bytesWritten += HEARTBEAT_FRAME.length;
      }
      subscriber.active = false; // a heartbeat is not activity: the next tick sends one again
    }
  }

  /** Ends every stream, e.g. when delivery can no longer be guaranteed. */
  endAll(): void {
    for (const subscriber of [...this.#subscribers]) subscriber.end();
  }

  /**
   * Ends every stream, spread evenly over `windowMs`, so that thousands of clients do
   * not all reconnect in the same instant.
   */
  async drain(windowMs: number): Promise<void> {
    const all = [...this.#subscribers];
    const steps = Math.max(1, Math.min(all.length, Math.ceil(windowMs / 50)));
    for (let step = 0; step < steps; step++) {
      const from = Math.floor((step * all.length) / steps);
      const to = Math.floor(((step + 1) * all.length) / steps);
      for (const subscriber of all.slice(from, to)) subscriber.end();
      if (step < steps - 1) await new Promise((resolve) => setTimeout(resolve, windowMs / steps));
    }
    this.endAll(); // anyone who arrived meanwhile
  }
}

/** Adds `subscriber` to `key`'s audience; true if it is the first. */
function join(audiences: Map<string, Audience> | PrefixIndex<Audience>, key: string, subscriber: Subscriber): boolean {
  const audience = audiences.get(key);
  if (audience instanceof Set) audience.add(subscriber);
  else if (audience) audiences.set(key, new Set([audience, subscriber]));
  else {
    audiences.set(key, subscriber);
    return true;
  }
  return false;
}

/** Removes `subscriber` from `key`'s audience; true if that emptied it (the key is then gone). */
function leave(audiences: Map<string, Audience> | PrefixIndex<Audience>, key: string, subscriber: Subscriber): boolean {
  const audience = audiences.get(key);
  const emptied = audience instanceof Set ? audience.delete(subscriber) && audience.size === 0 : audience === subscriber;
  if (emptied) audiences.delete(key);
  return emptied;
}

function sizeOf(audience: Audience | undefined): number {
  return audience === undefined ? 0 : audience instanceof Set ? audience.size : 1;
}

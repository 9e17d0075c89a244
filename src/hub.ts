/**
 * The topic hub: topic → local subscribers. Each event is framed once, only if some
 * subscriber wants it, and the same bytes are handed to all of them. Publishing costs
 * one map lookup per event, whatever the number of topics.
 */
import type { History } from "./history.ts";
import type { NumberedEvent } from "./position.ts";
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
}

/**
 * A topic's local audience. Most topics (one per user, say) have a single subscriber,
 * which is kept as is: a Set is made only for the second one.
 */
type Audience = Subscriber | Set<Subscriber>;

export class Hub {
  /** Numbers and keeps events for resuming; undefined when history is off. */
  readonly history: History | undefined;
  readonly #topics = new Map<string, Audience>();
  readonly #subscribers = new Set<Subscriber>();
  #interest: TopicInterest | undefined;
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

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  get topicCount(): number {
    return this.#topics.size;
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

  /** `topics` must be distinct (the protocol layer dedupes them). */
  subscribe(subscriber: Subscriber, topics: readonly string[]): void {
    this.#subscribers.add(subscriber);
    for (const topic of topics) {
      const audience = this.#topics.get(topic);
      if (audience instanceof Set) audience.add(subscriber);
      else if (audience) this.#topics.set(topic, new Set([audience, subscriber]));
      else {
        this.#topics.set(topic, subscriber);
        this.#interest?.topicOpened(topic);
      }
    }
  }

  unsubscribe(subscriber: Subscriber, topics: readonly string[]): void {
    if (!this.#subscribers.delete(subscriber)) return;
    for (const topic of topics) {
      const audience = this.#topics.get(topic);
      const emptied =
        audience instanceof Set ? audience.delete(subscriber) && audience.size === 0 : audience === subscriber;
      if (!emptied) continue;
      this.#topics.delete(topic);
      this.#interest?.topicClosed(topic);
    }
  }

  /** Delivers a batch synchronously, in order, so batches never interleave. */
  dispatch(events: readonly SseEvent[]): number {
    let deliveries = 0;
    for (const { topic, event, data } of events) {
      const audience = this.#topics.get(topic);
      // With history, every event is numbered and kept, heard now or not.
      const frame = this.history ? this.history.append(topic, event, data) : audience && encodeEvent(event, data);
      if (audience && frame) deliveries += this.#fanOut(audience, frame);
    }
    return deliveries;
  }

  /** Delivers events numbered by a shared history (Redis): framed with their ids, kept nowhere here. */
  dispatchNumbered(events: readonly NumberedEvent[]): number {
    let deliveries = 0;
    for (const { topic, event, data, id, position } of events) {
      const audience = this.#topics.get(topic);
      if (audience) deliveries += this.#fanOut(audience, encodeEvent(event, data, id), position);
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

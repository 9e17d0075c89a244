/** One instance, no broker: a submission is delivered to the local hub at once. */
import type { SseEvent } from "../sse.ts";
import { RecentIds } from "./recent-ids.ts";
import { localCounts, type Idempotency, type PresenceCounts, type PublishOutcome, type Transport, type TransportSink } from "./transport.ts";

export class MemoryTransport implements Transport {
  readonly ready = true;
  /** The process keeps its own history (src/history.ts). */
  readonly sharedHistory = undefined;
  readonly #sink: TransportSink;
  readonly #recentIds = new RecentIds();

  constructor(sink: TransportSink) {
    this.#sink = sink;
  }

  publish(events: readonly SseEvent[], once?: Idempotency): Promise<PublishOutcome> {
    if (once && !this.#recentIds.claim(once.id, once.ttlMs)) return Promise.resolve("replayed");
    this.#sink.deliver(events);
    return Promise.resolve("published");
  }

  readonly deliversPrefixes = true;
  /** Exact: this is the only instance. */
  presence(topics: readonly string[]): Promise<PresenceCounts> {
    return Promise.resolve({ topics: localCounts(this.#sink, topics), instances: 1 });
  }

  audiencesChanged(): void {}
  topicOpened(): void {}
  topicClosed(): void {}
  prefixOpened(): void {}
  prefixClosed(): void {}

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** One instance, no broker: a submission is delivered to the local hub at once. */
import type { SseEvent } from "../sse.ts";
import type { Transport, TransportSink } from "./transport.ts";

export class MemoryTransport implements Transport {
  readonly ready = true;
  /** The process keeps its own history (src/history.ts). */
  readonly sharedHistory = undefined;
  readonly #sink: TransportSink;

  constructor(sink: TransportSink) {
    this.#sink = sink;
  }

  publish(events: readonly SseEvent[]): Promise<void> {
    this.#sink.deliver(events);
    return Promise.resolve();
  }

  topicOpened(): void {}
  topicClosed(): void {}

  close(): Promise<void> {
    return Promise.resolve();
  }
}

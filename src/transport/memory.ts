/** One instance, no broker: a submission is delivered to the local hub at once. */
import type { SseEvent } from "../sse.ts";
import type { Transport } from "./transport.ts";

export class MemoryTransport implements Transport {
  readonly ready = true;
  readonly #deliver: (events: readonly SseEvent[]) => void;

  constructor(deliver: (events: readonly SseEvent[]) => void) {
    this.#deliver = deliver;
  }

  publish(events: readonly SseEvent[]): Promise<void> {
    this.#deliver(events);
    return Promise.resolve();
  }

  topicOpened(): void {}
  topicClosed(): void {}

  close(): Promise<void> {
    return Promise.resolve();
  }
}

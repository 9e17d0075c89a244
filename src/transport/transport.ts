/**
 * The seam between accepting a submission and delivering it: in memory for one
 * instance, or through a broker (Redis) so that every instance's subscribers get it.
 * The HTTP layer only ever sees this interface.
 */
import type { TopicInterest } from "../hub.ts";
import type { SseEvent } from "../sse.ts";

export interface Transport extends TopicInterest {
  /**
   * Takes a whole, validated submission. Resolves once the events are sure to reach
   * every subscriber of their topics; rejects with TransportUnavailable if they are not
   * taken at all (never half of them).
   */
  publish(events: readonly SseEvent[]): Promise<void>;
  /** False while this instance cannot deliver correctly (e.g. its broker is gone). */
  readonly ready: boolean;
  close(): Promise<void>;
}

/** The broker could not take a submission; the client should retry. */
export class TransportUnavailable extends Error {
  override name = "TransportUnavailable";
}

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

/** What a transport hands its events to: the local hub, plus a way to drop local streams. */
export interface TransportSink {
  /** Delivers a batch (from this or another instance) to local subscribers, in order. */
  deliver(events: readonly SseEvent[]): void;
  /**
   * Ends every local stream: called when delivery can no longer be guaranteed (e.g. the
   * broker connection was lost), so that clients reconnect and resync rather than miss events.
   */
  endAllStreams(): void;
  /**
   * This instance receives `topic` from now on: history may resume streams of it, but
   * not from before this moment. Only a transport that can miss topics calls it.
   */
  coverageGained(topic: string): void;
  /** This instance stops receiving `topic` (all topics if omitted): no resuming it. */
  coverageLost(topic?: string): void;
}

/** The broker could not take a submission; the client should retry. */
export class TransportUnavailable extends Error {
  override name = "TransportUnavailable";
}

/**
 * The seam between accepting a submission and delivering it: in memory for one
 * instance, or through a broker (Redis) so that every instance's subscribers get it.
 * The HTTP layer only ever sees this interface.
 */
import type { Config } from "../config.ts";
import type { GapReason } from "../history.ts";
import type { TopicInterest } from "../hub.ts";
import type { NumberedEvent } from "../position.ts";
import type { PresenceCounts } from "../presence.ts";
import type { SseEvent } from "../sse.ts";

export interface Transport extends TopicInterest {
  /**
   * Takes a whole, validated submission. Resolves once the events are sure to reach
   * every subscriber of their topics; rejects with TransportUnavailable if they are not
   * taken at all (never half of them). With `once`, the check that its id is new and the
   * publish are one step: "replayed" (nothing delivered) if the id was taken within its TTL.
   */
  publish(events: readonly SseEvent[], once?: Idempotency): Promise<PublishOutcome>;
  /**
   * Whether it can deliver every topic under a prefix (`prefixOpened`); false for a Redis
   * Cluster, whose sharded pub/sub has no pattern subscribe: prefix grants are refused there.
   */
  readonly deliversPrefixes: boolean;
  prefixOpened(prefix: string): void;
  prefixClosed(prefix: string): void;
  /** False while this instance cannot deliver correctly (e.g. its broker is gone). */
  readonly ready: boolean;
  /**
   * The history the broker keeps for every instance (Redis, one node), which then numbers
   * every event; undefined when each process numbers and keeps events itself.
   */
  readonly sharedHistory: SharedHistory | undefined;
  /**
   * How many open streams each topic has, summed over every live instance, and how many
   * instances are live (this one included; `presence([])` asks only that). This
   * instance's own streams are counted as they are now; other instances' as they last
   * reported them. Rejects with TransportUnavailable when the broker cannot answer.
   */
  presence(topics: readonly string[]): Promise<PresenceCounts>;
  /** The hub's audience listener: these grants' local streams (topics, prefixes) changed in number. */
  audiencesChanged(topics: readonly string[], prefixes: readonly string[]): void;
  close(): Promise<void>;
}

export type { PresenceCounts };

/** This instance's streams per topic, read live (the hub). */
export interface LocalAudiences {
  /** Open local streams an event of `topic` would be delivered to (topic and prefix grants). */
  audienceSize(topic: string): number;
  /** Local streams holding exactly this grant: the topic, or with `prefix` true, the prefix. */
  grantSize(grant: string, prefix: boolean): number;
  /** Every grant with local streams: the topic or prefix, whether it is a prefix, how many. */
  grants(): Iterable<readonly [string, boolean, number]>;
}

/** A submission's id and how long it is remembered. */
export interface Idempotency {
  readonly id: string;
  readonly ttlMs: number;
}

export type PublishOutcome = "published" | "replayed";

/** Events kept by the broker, numbered in one order for every instance. */
export interface SharedHistory {
  /**
   * Where a stream of `topics` (and every topic under `prefixes`) starts. Resolves once
   * this instance receives every one of them, so that every event numbered after `after`
   * reaches it live; with what the client missed since `lastEventId` (undefined: a fresh
   * stream), or why that cannot be told (always, with prefixes: `no-prefix-replay`).
   * Rejects with TransportUnavailable when the broker cannot answer. The topics and
   * prefixes must already be open (the stream in the hub, holding live events), or it
   * waits for a subscription nobody asked for until it times out.
   */
  start(topics: readonly string[], lastEventId: string | undefined, prefixes?: readonly string[]): Promise<SharedStart>;
}

export interface SharedStart {
  /** Everything up to here is in `missed` or came before the stream; live events come after. */
  readonly after: number;
  /** The public id of `after`: where the stream's client stands once the start is sent. */
  readonly afterId: string;
  readonly missed:
    | { readonly ok: true; readonly events: readonly NumberedEvent[] }
    | { readonly ok: false; readonly reason: GapReason }
    | undefined;
}

/** What a transport hands its events to: the local hub, plus a way to drop local streams. */
export interface TransportSink extends LocalAudiences {
  /** Delivers a batch (from this or another instance) to local subscribers, in order. */
  deliver(events: readonly SseEvent[]): void;
  /** Delivers a batch numbered by the shared history: framed with those ids, kept nowhere here. */
  deliverNumbered(events: readonly NumberedEvent[]): void;
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

/** This instance's counts for `topics`, as a PresenceCounts' `topics`. */
export function localCounts(local: LocalAudiences, topics: readonly string[]): Record<string, number> {
  return Object.fromEntries(topics.map((topic) => [topic, local.audienceSize(topic)]));
}

/** The broker could not take a submission; the client should retry. */
export class TransportUnavailable extends Error {
  override name = "TransportUnavailable";
}

/**
 * Whether events are numbered and kept in Redis for every instance: on one node with
 * history on. A Redis Cluster cannot: a script's keys must share one hash slot, and
 * topics on different shards have no common order to number them by.
 */
export function sharesHistory(config: Config): boolean {
  return config.redisUrl !== undefined && !config.redisCluster && config.historySize > 0;
}

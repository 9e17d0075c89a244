/**
 * One live connection (set) to a pub/sub engine: the only part of the Redis transport
 * that knows a Redis client library. A broker is never reconnected in place: when it is
 * lost it is destroyed and the transport connects a new one, so subscription state never
 * has to be reconciled with what a client library replays on its own.
 */

import type { RunScript } from "./history.ts";

/** A payload for one channel. */
export interface BrokerMessage {
  readonly channel: string;
  readonly payload: Uint8Array;
}

export interface Broker {
  /**
   * True when every subscriber sees messages of all channels in one order (one Redis
   * node); false when order holds only within a channel (sharded across nodes).
   */
  readonly ordersAcrossChannels: boolean;
  /**
   * Publishes the messages in order. With `ordersAcrossChannels` they are taken as a
   * whole or not at all; otherwise each channel's message is taken or not on its own.
   */
  publish(messages: readonly BrokerMessage[]): Promise<void>;
  /**
   * Runs a Lua script on the node (one node only: a script cannot span a cluster's shards),
   * on the publishing connection, so it is ordered with publishes.
   */
  readonly runScript: RunScript | undefined;
  /**
   * Sets `key` (for `ttlMs`) unless it exists: true if this call set it. Where no script
   * can publish in the same step (a cluster), a submission id is claimed with this first.
   */
  claim(key: string, ttlMs: number): Promise<boolean>;
  /** Deletes `key`: a claim given back because its publish failed. */
  release(key: string): Promise<void>;
  /**
   * Runs one command whose keys all lie in `key`'s hash slot, on the node that owns it
   * (a cluster routes by `key`; one node runs everything). Replies as the client reads
   * them: strings, numbers, null, arrays of those.
   */
  command(key: string, args: readonly string[]): Promise<unknown>;
  /** Resolves once the engine has acknowledged the subscription. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /**
   * Receives every channel that starts with `channelPrefix` (resolves once acknowledged);
   * undefined where the engine cannot (sharded pub/sub). However many subscriptions of
   * the broker match a message — its channel's and several prefixes' — `message` is
   * called for it once.
   */
  readonly subscribePrefix: ((channelPrefix: string) => Promise<void>) | undefined;
  readonly unsubscribePrefix: ((channelPrefix: string) => Promise<void>) | undefined;
  /** Resolves if every node behind the broker answers. */
  ping(): Promise<void>;
  /** Drops every connection at once; pending commands fail. */
  destroy(): void;
}

export interface BrokerEvents {
  /** A message arrived on a subscribed channel. */
  message(payload: Uint8Array): void;
  /** A connection failed: the broker can no longer be trusted and will be destroyed. */
  lost(cause: unknown): void;
}

export type ConnectBroker = (events: BrokerEvents) => Promise<Broker>;

/** How long a connection attempt may take before it counts as failed. */
export const CONNECT_TIMEOUT_MS = 2000;

/**
 * Clustering through Redis: every submission goes through Redis, also to this instance's
 * own subscribers, so that all instances see the same submissions in the same order.
 * Each instance subscribes only to the channels of topics its own streams need, and to
 * a pattern per prefix they are granted (one Redis node only: see ./redis/single.ts).
 *
 * Failure model: while Redis is unreachable the instance is not ready, `submit` answers
 * 503, and no stream is kept open that could miss an event. Losing the connection ends
 * every local stream (clients reconnect and resync); reconnection retries with backoff;
 * on recovery, streams opened during the outage are ended too, since events published by
 * other instances meanwhile never reached them.
 *
 * History: on one Redis node (with history on) events are numbered and kept in Redis
 * (./redis/history.ts), so a client may resume on any instance; in cluster mode each
 * instance keeps its own (src/history.ts), told here which topics it receives.
 *
 * Presence: each instance's streams per topic are kept in Redis for the others to count
 * (./redis/presence.ts).
 */
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { bytesToHex } from "../hex.ts";
import { randomEpoch } from "../position.ts";
import type { SseEvent } from "../sse.ts";
import type { Broker, BrokerEvents, ConnectBroker } from "./redis/broker.ts";
import { POSITIONS_PER_MS, RedisHistory } from "./redis/history.ts";
import { idKey, publishOnce } from "./redis/once.ts";
import { RedisPresence } from "./redis/presence.ts";
import { decodeBatch, decodeNumberedRun, encodeBatch, topicGroups, topicRuns, WireError } from "./redis/wire.ts";
import {
  sharesHistory,
  TransportUnavailable,
  type Idempotency,
  type PresenceCounts,
  type PublishOutcome,
  type SharedHistory,
  type SharedStart,
  type Transport,
  type TransportSink,
} from "./transport.ts";

/** A publish or health probe not answered by then counts as a lost connection. */
const COMMAND_TIMEOUT_MS = 5000;
/** How often a connected broker is probed, to notice a Redis that hangs without closing. */
const PROBE_INTERVAL_MS = 2000;
/** Reconnect backoff: doubles from the first delay up to the cap, with ±20% jitter. */
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 2000;

export function retryDelay(attempt: number, random = Math.random): number {
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(attempt - 1, 20));
  return Math.round(base * (0.8 + 0.4 * random()));
}

export class RedisTransport implements Transport {
  /** Connects (one attempt, so a healthy start is ready at once) and keeps retrying in the background. */
  static async connect(config: Config, sink: TransportSink, logger: Logger): Promise<Transport> {
    const url = config.redisUrl;
    if (!url) throw new Error("RedisTransport needs REDIS_URL");
    const connectBroker: ConnectBroker = config.redisCluster
      ? async (events) => (await import("./redis/sharded.ts")).connectCluster(url.split(","), events)
      : async (events) => (await import("./redis/single.ts")).connectSingleNode(url, events);
    const history = sharesHistory(config)
      ? new RedisHistory(
          config.redisChannelPrefix,
          { perTopic: config.historySize, maxAgeMs: config.historyTtlSeconds * 1000 },
          randomEpoch(),
        )
      : undefined;
    // With a history of its own, an instance keeps a topic subscribed for as long as its
    // events are kept after its last local stream leaves, so a client reconnecting here can
    // still resume. A shared history needs no such thing.
    const lingerMs = config.historySize > 0 && !history ? config.historyTtlSeconds * 1000 : 0;
    const transport = new RedisTransport(config, connectBroker, config.redisChannelPrefix, lingerMs, history, sink, logger);
    await transport.#connectOnce(1);
    if (!transport.ready) transport.#reconnect(2);
    return transport;
  }

  readonly #connectBroker: ConnectBroker;
  readonly #channelPrefix: string;
  readonly #lingerMs: number;
  readonly #history: RedisHistory | undefined;
  readonly #sink: TransportSink;
  readonly #logger: Logger;
  /** The live broker; undefined while (re)connecting. */
  #broker: Broker | undefined;
  /** Topics and prefixes with local subscribers, as the hub reports them. */
  readonly #wanted = { topic: new Set<string>(), prefix: new Set<string>() };
  /** Topics and prefixes whose subscription the current broker has acknowledged. */
  readonly #subscribed = { topic: new Set<string>(), prefix: new Set<string>() };
  /** Topics without local streams whose subscription is kept a while: their unsubscribe timers. */
  readonly #lingering = new Map<string, ReturnType<typeof setTimeout>>();
  /** Topics and prefixes with a subscribe/unsubscribe loop running: one for each, so commands never cross. */
  readonly #reconciling = { topic: new Set<string>(), prefix: new Set<string>() };
  /** Stream starts waiting for their topics' subscriptions to be acknowledged. */
  readonly #coverageWaiters = new Set<CoverageWaiter>();
  readonly #presence: RedisPresence;
  #probe: ReturnType<typeof setInterval> | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  private constructor(
    config: Config,
    connectBroker: ConnectBroker,
    channelPrefix: string,
    lingerMs: number,
    history: RedisHistory | undefined,
    sink: TransportSink,
    logger: Logger,
  ) {
    this.#connectBroker = connectBroker;
    this.deliversPrefixes = !config.redisCluster;
    this.#channelPrefix = channelPrefix;
    this.#lingerMs = lingerMs;
    this.#history = history;
    this.sharedHistory = history && {
      start: (topics, lastEventId, prefixes = []) => this.#start(topics, prefixes, lastEventId),
    };
    this.#sink = sink;
    this.#logger = logger;
    // Names this instance's presence counts in Redis; a new one each start.
    const instanceId = bytesToHex(crypto.getRandomValues(new Uint8Array(8)));
    this.#presence = new RedisPresence(channelPrefix, instanceId, sink, (message, error) =>
      logger.warn(message, { error: String(error) }),
    );
  }

  readonly sharedHistory: SharedHistory | undefined;
  readonly deliversPrefixes: boolean;

  get ready(): boolean {
    return this.#broker !== undefined;
  }

  async publish(events: readonly SseEvent[], once?: Idempotency): Promise<PublishOutcome> {
    const broker = this.#broker;
    if (!broker) throw new TransportUnavailable("event broker (Redis) is unavailable; retry later");
    if (events.length === 0 && !once) return "published";
    const key = once && { key: idKey(this.#channelPrefix, once.id), ttlMs: once.ttlMs };
    const run = broker.runScript;
    // An empty submission with an id only claims the id (below): nothing to number or store.
    if (this.#history && events.length > 0) {
      if (!run) throw new Error("a shared history needs a broker that runs scripts");
      // Stores and publishes in one script (only if the id is new): 200 only when both happened.
      const history = this.#history;
      const stored = await this.#command(broker, "Redis did not answer the submission", () => history.append(run, topicRuns(events), key));
      return stored ? "published" : "replayed";
    }
    const batches = broker.ordersAcrossChannels ? topicRuns(events) : topicGroups(events);
    const messages = batches.map(({ topic, events: batch }) => ({
      channel: this.#channelPrefix + topic,
      payload: encodeBatch(batch),
    }));
    if (!key) {
      await this.#command(broker, "Redis did not answer the publish", () => broker.publish(messages));
      return "published";
    }
    if (run) {
      // One node: the id's key and the publishes in one script.
      const published = await this.#command(broker, "Redis did not answer the publish", () => publishOnce(run, key.key, key.ttlMs, messages));
      return published ? "published" : "replayed";
    }
    // A cluster: the id's key and the topics' channels live on different shards, so no
    // script spans them. Claimed first (so two instances never both deliver), given back
    // if the publish fails (so the client's retry is delivered). Not one atomic step: see README.
    const claimed = await this.#command(broker, "Redis did not answer the claim", () => broker.claim(key.key, key.ttlMs));
    if (!claimed) return "replayed";
    try {
      await this.#command(broker, "Redis did not answer the publish", () => broker.publish(messages));
    } catch (error) {
      await broker.release(key.key).catch((releaseError: unknown) =>
        this.#logger.warn("redis could not give back a submission id after a failed publish", { error: String(releaseError) }),
      );
      throw error;
    }
    return "published";
  }

  async presence(topics: readonly string[]): Promise<PresenceCounts> {
    const broker = this.#broker;
    if (!broker) throw new TransportUnavailable("event broker (Redis) is unavailable; retry later");
    try {
      const query = this.#presence.query((key, args) => broker.command(key, args), topics);
      return await withTimeout(query, COMMAND_TIMEOUT_MS, "Redis did not answer the presence query");
    } catch (error) {
      if (error instanceof TimeoutError) this.#lost(broker, error);
      this.#logger.warn("redis did not answer a presence query", { error: String(error) });
      throw new TransportUnavailable("event broker (Redis) did not answer; retry later");
    }
  }

  audiencesChanged(topics: readonly string[], prefixes: readonly string[]): void {
    this.#presence.changed(topics, prefixes);
  }

  /** One submission command, bounded in time: any failure is TransportUnavailable (a timeout also a lost connection). */
  async #command<T>(broker: Broker, timeoutMessage: string, command: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(command(), COMMAND_TIMEOUT_MS, timeoutMessage);
    } catch (error) {
      if (error instanceof TimeoutError) this.#lost(broker, error);
      this.#logger.warn("redis did not take the submission", { error: String(error) });
      throw new TransportUnavailable("event broker (Redis) did not take the events; retry later");
    }
  }

  /**
   * Subscribes first (the caller's stream is already in the hub, holding live events),
   * then asks Redis where the stream starts: every event after that point reaches this
   * instance live, everything up to it is in the answer or before the stream.
   */
  async #start(topics: readonly string[], prefixes: readonly string[], lastEventId: string | undefined): Promise<SharedStart> {
    const broker = this.#broker;
    if (!broker?.runScript || !this.#history) throw new TransportUnavailable("event broker (Redis) is unavailable; retry later");
    const history = this.#history;
    try {
      return await withTimeout(
        (async () => {
          await this.#whenCovered(topics, prefixes);
          const run = this.#broker?.runScript;
          if (this.#broker !== broker || !run) throw new TransportUnavailable("event broker (Redis) was lost");
          return history.start(run, topics, lastEventId, prefixes.length > 0);
        })(),
        COMMAND_TIMEOUT_MS,
        "Redis did not answer the stream's start",
      );
    } catch (error) {
      if (error instanceof TimeoutError) this.#lost(broker, error);
      this.#logger.warn("redis could not start a stream", { error: String(error) });
      throw new TransportUnavailable("event broker (Redis) could not start the stream; retry later");
    }
  }

  /** Resolves once the current broker has acknowledged every topic's and prefix's subscription. */
  #whenCovered(topics: readonly string[], prefixes: readonly string[]): Promise<void> {
    const waiter = { topics, prefixes };
    if (this.#covers(waiter)) return Promise.resolve();
    return new Promise((resolve, reject) => this.#coverageWaiters.add({ ...waiter, resolve, reject }));
  }

  #covers({ topics, prefixes }: { topics: readonly string[]; prefixes: readonly string[] }): boolean {
    return topics.every((t) => this.#subscribed.topic.has(t)) && prefixes.every((p) => this.#subscribed.prefix.has(p));
  }

  #coverageGained(kind: InterestKind, name: string): void {
    if (kind === "topic") this.#sink.coverageGained(name);
    for (const waiter of this.#coverageWaiters) {
      if (!this.#covers(waiter)) continue;
      this.#coverageWaiters.delete(waiter);
      waiter.resolve();
    }
  }

  topicOpened(topic: string): void {
    clearTimeout(this.#lingering.get(topic));
    this.#lingering.delete(topic);
    this.#wanted.topic.add(topic);
    void this.#reconcile("topic", topic);
  }

  prefixOpened(prefix: string): void {
    this.#wanted.prefix.add(prefix);
    void this.#reconcile("prefix", prefix);
  }

  /** No lingering: that is for a history of its own, which only a cluster keeps, and a cluster has no prefixes. */
  prefixClosed(prefix: string): void {
    this.#wanted.prefix.delete(prefix);
    void this.#reconcile("prefix", prefix);
  }

  topicClosed(topic: string): void {
    if (this.#lingerMs === 0) return this.#unwant(topic);
    clearTimeout(this.#lingering.get(topic));
    this.#lingering.set(topic, setTimeout(() => this.#unwant(topic), this.#lingerMs));
  }

  #unwant(topic: string): void {
    this.#lingering.delete(topic);
    this.#wanted.topic.delete(topic);
    void this.#reconcile("topic", topic);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    for (const timer of this.#lingering.values()) clearTimeout(timer);
    const broker = this.#broker;
    if (broker) {
      // This instance's streams stop counting now, not when its counts expire.
      const removed = this.#presence.remove((key, args) => broker.command(key, args));
      await withTimeout(removed, COMMAND_TIMEOUT_MS, "Redis did not answer").catch((error: unknown) =>
        this.#logger.warn("redis could not remove this instance's presence counts", { error: String(error) }),
      );
    }
    this.#dropBroker();
  }

  /**
   * Brings the broker's subscription for a topic (or prefix) in line with whether it is
   * wanted, however often that flips meanwhile (a topic re-opened while its unsubscribe is
   * in flight ends up subscribed). Any failure is treated as a lost connection.
   */
  async #reconcile(kind: InterestKind, name: string): Promise<void> {
    const reconciling = this.#reconciling[kind];
    if (reconciling.has(name)) return; // the running loop will see the new wish
    reconciling.add(name);
    const subscribed = this.#subscribed[kind];
    let broker: Broker | undefined;
    try {
      // Each turn awaits one command and follows one change of wish: bounded by the flips.
      for (;;) {
        broker = this.#broker;
        if (!broker) return; // resolved on reconnection (all streams are ended then)
        const wanted = this.#wanted[kind].has(name);
        if (wanted === subscribed.has(name)) return;
        const channel = this.#channelPrefix + name;
        if (!wanted) {
          // Not covered from the moment we ask to stop: a stream starting meanwhile waits
          // for the subscription that follows.
          subscribed.delete(name);
          if (kind === "topic") this.#sink.coverageLost(name);
        }
        await this.#subscription(broker, kind, wanted, channel);
        if (broker !== this.#broker) return;
        if (wanted) {
          subscribed.add(name);
          this.#coverageGained(kind, name); // events from now on arrive here
        }
      }
    } catch (error) {
      if (broker) this.#lost(broker, error);
    } finally {
      reconciling.delete(name);
    }
  }

  #subscription(broker: Broker, kind: InterestKind, subscribe: boolean, channel: string): Promise<void> {
    if (kind === "topic") return subscribe ? broker.subscribe(channel) : broker.unsubscribe(channel);
    const command = subscribe ? broker.subscribePrefix : broker.unsubscribePrefix;
    if (!command) throw new Error("this broker cannot subscribe to prefixes");
    return command(channel);
  }

  /** One connection attempt; on success the instance is ready. */
  async #connectOnce(attempt: number): Promise<void> {
    let broker: Broker | undefined;
    let lostCause: unknown;
    const events: BrokerEvents = {
      message: (payload) => {
        if (broker && broker === this.#broker) this.#receive(payload);
      },
      lost: (cause) => {
        lostCause ??= cause;
        if (broker && broker === this.#broker) this.#lost(broker, cause);
      },
    };
    try {
      broker = await this.#connectBroker(events);
      await withTimeout(broker.ping(), COMMAND_TIMEOUT_MS, "Redis did not answer PING");
      if (lostCause !== undefined) throw lostCause;
    } catch (error) {
      broker?.destroy();
      const fields = { attempt, error: String(error) };
      // The first failure is worth a warning; the retries after it only at debug level.
      if (attempt <= 1) this.#logger.warn("redis unavailable; retrying with backoff", fields);
      else this.#logger.debug("redis still unavailable", fields);
      return;
    }
    if (this.#closed) {
      broker.destroy();
      return;
    }
    if (this.#wanted.topic.size + this.#wanted.prefix.size > 0) {
      // These streams opened while Redis was unreachable: events other instances
      // published meanwhile never reached them, so they must reconnect and resync.
      this.#logger.info("closing streams opened while redis was unavailable", {
        topics: this.#wanted.topic.size,
        prefixes: this.#wanted.prefix.size,
      });
      this.#sink.endAllStreams();
    }
    this.#broker = broker;
    this.#probe = setInterval(() => void this.#checkAlive(broker), PROBE_INTERVAL_MS);
    this.#presence.attach((key, args) => broker.command(key, args));
    this.#logger.info("redis connected", { attempt });
    // Normally none are left after endAllStreams; kept in case a sink ends streams later.
    for (const kind of INTEREST_KINDS) for (const name of this.#wanted[kind]) void this.#reconcile(kind, name);
  }

  /** Keeps trying until connected or closed; every try is one bounded attempt. */
  #reconnect(attempt: number): void {
    if (this.#closed || this.#broker) return;
    this.#retry = setTimeout(async () => {
      await this.#connectOnce(attempt);
      if (!this.#broker) this.#reconnect(attempt + 1);
    }, retryDelay(attempt));
  }

  async #checkAlive(broker: Broker): Promise<void> {
    try {
      await withTimeout(broker.ping(), COMMAND_TIMEOUT_MS, "Redis did not answer PING");
    } catch (error) {
      this.#lost(broker, error);
    }
  }

  /** The broker failed: not ready, every local stream ended, reconnection started. */
  #lost(broker: Broker, cause: unknown): void {
    if (broker !== this.#broker || this.#closed) return;
    this.#dropBroker();
    this.#logger.warn("redis connection lost; closing streams and reconnecting", { error: String(cause) });
    this.#sink.endAllStreams();
    this.#reconnect(1);
  }

  #dropBroker(): void {
    clearInterval(this.#probe);
    this.#presence.detach();
    const broker = this.#broker;
    this.#broker = undefined; // first, so the broker's own close events are ignored
    this.#subscribed.topic.clear();
    this.#subscribed.prefix.clear();
    this.#sink.coverageLost();
    for (const waiter of this.#coverageWaiters) waiter.reject(new TransportUnavailable("event broker (Redis) was lost"));
    this.#coverageWaiters.clear();
    broker?.destroy();
  }

  #receive(payload: Uint8Array): void {
    try {
      if (this.#history) this.#sink.deliverNumbered(decodeNumberedRun(payload, POSITIONS_PER_MS));
      else this.#sink.deliver(decodeBatch(payload));
    } catch (error) {
      if (!(error instanceof WireError)) throw error;
      this.#logger.warn("ignored a message that is not an event batch", { error: error.message });
    }
  }
}

/** A broker subscription is for one topic's channel, or for every channel under a prefix. */
type InterestKind = "topic" | "prefix";
const INTEREST_KINDS: readonly InterestKind[] = ["topic", "prefix"];

interface CoverageWaiter {
  readonly topics: readonly string[];
  readonly prefixes: readonly string[];
  resolve(): void;
  reject(error: unknown): void;
}

class TimeoutError extends Error {
  override name = "TimeoutError";
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

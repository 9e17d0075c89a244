/**
 * The dashboard's live numbers: one `stats` event a second, framed once and pushed to
 * every open dashboard. The timer runs only while a dashboard watches, so an unwatched
 * server does no sampling work at all.
 */
import type { Hub, Subscriber } from "../hub.ts";
import type { CounterTotals, Metrics } from "../metrics.ts";
import { encodeEvent } from "../sse.ts";
import type { PresenceCounts, Transport } from "../transport/transport.ts";

/** How many of the busiest topics a sample names. */
export const BUSIEST_TOPICS = 10;
export const SAMPLE_INTERVAL_MS = 1000;

/** One sample, as the page receives it (JSON): totals since start, and the state now. */
export interface DashboardSample extends CounterTotals {
  /** Unix milliseconds. */
  readonly time: number;
  readonly streams: number;
  readonly topics: number;
  readonly deliveries: number;
  readonly bytesWritten: number;
  /** This process's history; null when there is none here (off, or kept in Redis). */
  readonly history: { readonly events: number; readonly bytes: number } | null;
  /** null for a single instance (no Redis). `instances`: null until first known. */
  readonly redis: { readonly ready: boolean; readonly instances: number | null } | null;
  /** Subscribers across the cluster where the transport counts them, else on this instance. */
  readonly busiest: readonly { readonly topic: string; readonly subscribers: number }[];
}

export interface FeedSources {
  readonly hub: Hub;
  readonly metrics: Metrics;
  readonly transport: Transport;
  /** Whether the transport is Redis (the dashboard then shows its state). */
  readonly clustered: boolean;
}

export class DashboardFeed {
  readonly #sources: FeedSources;
  readonly #intervalMs: number;
  readonly #watchers = new Set<Subscriber>();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** The transport's last answer; asked again each sample, never waited for. */
  #presence: PresenceCounts | undefined;
  #asking = false;
  #sampling = false;
  /** The last sample sent, and when: a dashboard opened within the interval gets it as is. */
  #last: { readonly frame: Uint8Array; readonly at: number } | undefined;

  constructor(sources: FeedSources, intervalMs = SAMPLE_INTERVAL_MS) {
    this.#sources = sources;
    this.#intervalMs = intervalMs;
  }

  /** Whether the timer runs: exactly while a dashboard watches. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /**
   * Sends `watcher` a sample now (the last one, if it is younger than the interval: many
   * dashboards opening at once cost one sample) and one every interval; returns what stops that.
   */
  watch(watcher: Subscriber): () => void {
    this.#watchers.add(watcher);
    this.#timer ??= setInterval(() => void this.#send(this.#watchers), this.#intervalMs);
    if (this.#last && Date.now() - this.#last.at < this.#intervalMs) watcher.push(this.#last.frame);
    else void this.#send([watcher]);
    return () => {
      this.#watchers.delete(watcher);
      if (this.#watchers.size > 0 || !this.#timer) return;
      clearInterval(this.#timer);
      this.#timer = undefined;
    };
  }

  async sample(): Promise<DashboardSample> {
    const { hub, metrics, transport, clustered } = this.#sources;
    const counts = await metrics.counts();
    const local = hub.busiestTopics(BUSIEST_TOPICS);
    this.#askPresence(local.map(({ topic }) => topic));
    const known = this.#presence?.topics ?? {};
    const busiest = local
      .map(({ topic, subscribers }) => ({ topic, subscribers: known[topic] ?? subscribers }))
      .sort((a, b) => b.subscribers - a.subscribers);
    return {
      ...counts,
      time: Date.now(),
      streams: hub.subscriberCount,
      topics: hub.topicCount,
      deliveries: hub.deliveries,
      bytesWritten: hub.bytesWritten,
      history: hub.history ? { events: hub.history.size, bytes: hub.history.bytes } : null,
      redis: clustered ? { ready: transport.ready, instances: this.#presence?.instances ?? null } : null,
      busiest,
    };
  }

  /** Ends every dashboard stream (shutdown). */
  close(): void {
    for (const watcher of [...this.#watchers]) watcher.end();
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #send(to: Iterable<Subscriber>): Promise<void> {
    // A slow metrics read must not pile samples up: a tick that finds one running is skipped.
    if (this.#sampling) return;
    this.#sampling = true;
    try {
      const sample = await this.sample();
      const frame = encodeEvent("stats", JSON.stringify(sample));
      this.#last = { frame, at: sample.time };
      for (const watcher of [...to]) watcher.push(frame);
    } finally {
      this.#sampling = false;
    }
  }

  /** Refreshes the cluster view in the background: a slow broker delays no sample. */
  #askPresence(topics: readonly string[]): void {
    if (this.#asking) return;
    this.#asking = true;
    this.#sources.transport
      .presence(topics)
      .then((presence) => void (this.#presence = presence))
      .catch(() => {}) // the last answer stands; `ready` says the broker is away
      .finally(() => void (this.#asking = false));
  }
}

/**
 * Prometheus metrics (prom-client, which runs unchanged on Bun, Deno and Node). Hot-path
 * counts live as plain numbers (in the hub, the token verifier, and here for submissions)
 * and are read at scrape time; the rest are counted where they happen.
 */
import process from "node:process";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Hub } from "./hub.ts";
import type { TokenRejection } from "./token/branca.ts";

/** Counts kept by the token verifier (src/token/offload.ts). */
export interface TokenVerifierCounts {
  readonly offloaded: number;
  readonly refusedBusy: number;
}

export interface CounterTotals {
  readonly submissions: number;
  readonly eventsSubmitted: number;
  readonly slowConsumers: number;
  readonly tokenRejections: Readonly<Record<string, number>>;
}

const total = async (counter: Counter): Promise<number> =>
  (await counter.get()).values.reduce((sum, { value }) => sum + value, 0);

export class Metrics {
  readonly registry = new Registry();
  readonly slowConsumers: Counter;
  readonly presenceQueries: Counter;
  readonly tokenRejections: Counter<"reason">;
  readonly requestsRejected: Counter<"status">;
  readonly submitSeconds: Histogram;
  // Counted on every submission as plain numbers, read at scrape time (a prom-client
  // Counter's inc costs a label lookup each time).
  #submissions = 0;
  #submissionsReplayed = 0;
  #eventsSubmitted = 0;

  constructor(hub: Hub, tokens?: TokenVerifierCounts) {
    const registers = [this.registry];
    this.slowConsumers = new Counter({
      name: "sse_slow_consumers_disconnected_total",
      help: "Streams cut because their backlog passed SSE_MAX_BUFFERED_EVENTS.",
      registers,
    });
    this.presenceQueries = new Counter({
      name: "sse_presence_queries_total",
      help: "Presence queries answered (POST presence).",
      registers,
    });
    this.tokenRejections = new Counter({
      name: "sse_token_rejections_total",
      help: "Requests refused for their token, by reason.",
      labelNames: ["reason"],
      registers,
    });
    this.requestsRejected = new Counter({
      name: "sse_requests_rejected_total",
      help: "Requests answered with a 4xx or 503, by status.",
      labelNames: ["status"],
      registers,
    });
    this.submitSeconds = new Histogram({
      name: "sse_submit_duration_seconds",
      help: "Time to verify, validate and hand a submission to the transport.",
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    const readCounter = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    const readGauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    readCounter("sse_submissions_total", "Submissions accepted.", () => this.#submissions);
    readCounter(
      "sse_submissions_replayed_total",
      "Submissions answered 200 without delivery: their id was accepted within SSE_IDEMPOTENCY_TTL.",
      () => this.#submissionsReplayed,
    );
    readCounter("sse_events_submitted_total", "Events accepted through submit.", () => this.#eventsSubmitted);
    readCounter("sse_deliveries_total", "Events handed to subscriber streams.", () => hub.deliveries);
    readCounter("sse_bytes_written_total", "Bytes handed to subscriber streams (events, heartbeats, openings).", () => hub.bytesWritten);
    readGauge("sse_open_streams", "Open subscriber streams.", () => hub.subscriberCount);
    readGauge("sse_subscribed_topics", "Topics with at least one local subscriber.", () => hub.topicCount);
    readGauge("sse_subscribed_prefixes", "Prefixes (of prefix grants) with at least one local subscriber.", () => hub.prefixCount);
    readGauge("sse_history_events", "Events kept for resuming streams.", () => hub.history?.size ?? 0);
    readGauge("sse_history_bytes", "Approximate bytes kept for resuming streams.", () => hub.history?.bytes ?? 0);
    if (tokens) {
      readCounter("sse_tokens_offloaded_total", "Long tokens verified on the worker thread.", () => tokens.offloaded);
      readCounter(
        "sse_tokens_refused_busy_total",
        "Long tokens refused unread (503) because the worker's queue was full or it was restarting.",
        () => tokens.refusedBusy,
      );
    }
    readGauge("process_resident_memory_bytes", "Resident set size of the process.", () => process.memoryUsage().rss);
  }

  /** A submission of `events` events was accepted, `ms` after it arrived. */
  submissionAccepted(events: number, ms: number): void {
    this.#submissions++;
    this.#eventsSubmitted += events;
    this.submitSeconds.observe(ms / 1000);
  }

  /** A submission was answered 200 without delivery: its id was taken. */
  submissionReplayed(): void {
    this.#submissionsReplayed++;
  }

  /** The counters the dashboard shows, as totals since start (token rejections by reason). */
  async counts(): Promise<CounterTotals> {
    const [slowConsumers, rejections] = await Promise.all([total(this.slowConsumers), this.tokenRejections.get()]);
    const tokenRejections: Record<string, number> = {};
    for (const { labels, value } of rejections.values) tokenRejections[String(labels.reason)] = value;
    return { submissions: this.#submissions, eventsSubmitted: this.#eventsSubmitted, slowConsumers, tokenRejections };
  }

  rejectToken(reason: TokenRejection): void {
    this.tokenRejections.inc({ reason });
  }

  /** The exposition, in the Prometheus text format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

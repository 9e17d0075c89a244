/**
 * SSE_PRESENCE_EVENTS: changes in how many streams topics have, published as events of
 * one system topic, which a backend subscribes to like any other. Changes are gathered
 * for a window (1 s) that starts with the first one; at its end one event per changed
 * topic carries its count over every live instance at that moment. So a topic is
 * reported at most once per window by each instance. Each instance reports the topics
 * whose streams changed on it; when several instances see changes of one topic in the
 * same second, each sends an event, every one with the cluster-wide count (the latest
 * is the one to keep). The system topic's own audience is never reported: a subscriber
 * of it would otherwise set off an event about itself.
 */
import type { Logger } from "./log.ts";
import type { SseEvent } from "./sse.ts";
import type { Transport } from "./transport/transport.ts";

/** The system topic the events are published to. */
export const PRESENCE_TOPIC = "sse-server:presence";
/** The events' name (their `event:` line); data is JSON `{"topic": …, "count": …}`. */
export const PRESENCE_EVENT = "presence";
/** Changes within one window of this length make one event per topic. */
export const PRESENCE_WINDOW_MS = 1000;

/** Runs `task` after `ms`; returns what cancels it. Injected so tests can run windows by hand. */
export type Schedule = (task: () => void, ms: number) => () => void;

const setTimer: Schedule = (task, ms) => {
  const timer = setTimeout(task, ms);
  return () => clearTimeout(timer);
};

export class PresenceEvents {
  readonly #transport: Pick<Transport, "presence" | "publish">;
  readonly #logger: Logger;
  readonly #schedule: Schedule;
  /** Topics whose audience changed since the last report. */
  readonly #changed = new Set<string>();
  #cancel: (() => void) | undefined;
  #reporting = false;
  #closed = false;

  constructor(transport: Pick<Transport, "presence" | "publish">, logger: Logger, schedule: Schedule = setTimer) {
    this.#transport = transport;
    this.#logger = logger;
    this.#schedule = schedule;
  }

  /** The hub's audience listener: these topics' streams changed in number. */
  changed(topics: readonly string[]): void {
    for (const topic of topics) if (topic !== PRESENCE_TOPIC) this.#changed.add(topic);
    this.#startWindow();
  }

  close(): void {
    this.#closed = true;
    this.#cancel?.();
    this.#cancel = undefined;
  }

  #startWindow(): void {
    if (this.#closed || this.#cancel || this.#reporting || this.#changed.size === 0) return;
    this.#cancel = this.#schedule(() => void this.#report(), PRESENCE_WINDOW_MS);
  }

  async #report(): Promise<void> {
    this.#cancel = undefined;
    const topics = [...this.#changed];
    this.#changed.clear();
    this.#reporting = true;
    try {
      const counts = await this.#transport.presence(topics);
      const events: SseEvent[] = topics.map((topic) => ({
        topic: PRESENCE_TOPIC,
        event: PRESENCE_EVENT,
        data: JSON.stringify({ topic, count: counts.topics[topic] ?? 0 }),
      }));
      await this.#transport.publish(events);
    } catch (error) {
      // Reported with the next window instead (the broker may be back by then).
      if (this.#closed) return;
      for (const topic of topics) this.#changed.add(topic);
      this.#logger.warn("presence events not published; retrying with the next window", { topics: topics.length, error: String(error) });
    } finally {
      this.#reporting = false;
      this.#startWindow();
    }
  }
}

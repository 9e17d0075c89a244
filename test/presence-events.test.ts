/** SSE_PRESENCE_EVENTS, in process: windows run by hand, a transport that records. */
import { describe, expect, test } from "bun:test";
import { createLogger } from "../src/log.ts";
import { PRESENCE_EVENT, PRESENCE_TOPIC, PRESENCE_WINDOW_MS, PresenceEvents, type Schedule } from "../src/presence-events.ts";
import type { SseEvent } from "../src/sse.ts";
import type { PresenceCounts, PublishOutcome } from "../src/transport/transport.ts";

/** Windows that start when asked and end when the test says so. */
class ManualWindows {
  readonly waiting: { task: () => void; ms: number }[] = [];
  readonly schedule: Schedule = (task, ms) => {
    const entry = { task, ms };
    this.waiting.push(entry);
    return () => this.waiting.splice(this.waiting.indexOf(entry), 1);
  };
  /** Ends the open window and lets its report finish. */
  async end(): Promise<void> {
    expect(this.waiting).toHaveLength(1);
    this.waiting.shift()!.task();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/** Counts as set by the test; records what is asked and published. */
class FakeTransport {
  readonly counts = new Map<string, number>();
  readonly asked: string[][] = [];
  readonly published: SseEvent[][] = [];
  failNext = false;
  presence(topics: readonly string[]): Promise<PresenceCounts> {
    this.asked.push([...topics]);
    return Promise.resolve({ topics: Object.fromEntries(topics.map((t) => [t, this.counts.get(t) ?? 0])), instances: 1 });
  }
  publish(events: readonly SseEvent[]): Promise<PublishOutcome> {
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(new Error("broker away"));
    }
    this.published.push([...events]);
    return Promise.resolve("published");
  }
  /** The published events' data, parsed. */
  get reports(): unknown[][] {
    return this.published.map((batch) => batch.map((e) => JSON.parse(e.data)));
  }
}

function setUp() {
  const windows = new ManualWindows();
  const transport = new FakeTransport();
  const logs: string[] = [];
  const events = new PresenceEvents(transport, createLogger("debug", (line) => logs.push(line)), windows.schedule);
  return { windows, transport, events, logs };
}

describe("PresenceEvents", () => {
  test("many changes within one window: one event per topic, with the count at the window's end", async () => {
    const { windows, transport, events } = setUp();
    for (let i = 1; i <= 5; i++) {
      transport.counts.set("room", i);
      events.changed(["room"]);
    }
    events.changed(["other", "room"]);
    expect(windows.waiting.map((w) => w.ms)).toEqual([PRESENCE_WINDOW_MS]); // one window, not one per change
    expect(transport.published).toEqual([]);
    await windows.end();
    expect(transport.asked).toEqual([["room", "other"]]);
    expect(transport.published).toEqual([
      [
        { topic: PRESENCE_TOPIC, event: PRESENCE_EVENT, data: '{"topic":"room","count":5}' },
        { topic: PRESENCE_TOPIC, event: PRESENCE_EVENT, data: '{"topic":"other","count":0}' },
      ],
    ]);
    expect(windows.waiting).toEqual([]); // nothing changed since: no window open
  });

  test("a change after a report opens the next window: at most one event per topic per window", async () => {
    const { windows, transport, events } = setUp();
    transport.counts.set("t", 1);
    events.changed(["t"]);
    await windows.end();
    transport.counts.set("t", 0);
    events.changed(["t"]);
    await windows.end();
    expect(transport.reports).toEqual([[{ topic: "t", count: 1 }], [{ topic: "t", count: 0 }]]);
  });

  test("the system topic's own audience is never reported", () => {
    const { windows, events } = setUp();
    events.changed([PRESENCE_TOPIC]);
    expect(windows.waiting).toEqual([]);
  });

  test("a report that cannot be published is tried again with the next window, and logged", async () => {
    const { windows, transport, events, logs } = setUp();
    transport.counts.set("t", 2);
    transport.failNext = true;
    events.changed(["t"]);
    await windows.end();
    expect(transport.published).toEqual([]);
    expect(logs.some((line) => line.includes("presence events not published"))).toBe(true);
    await windows.end();
    expect(transport.reports).toEqual([[{ topic: "t", count: 2 }]]);
  });

  test("closed: the open window is cancelled and no new one starts", () => {
    const { windows, events } = setUp();
    events.changed(["t"]);
    events.close();
    expect(windows.waiting).toEqual([]);
    events.changed(["t"]);
    expect(windows.waiting).toEqual([]);
  });
});

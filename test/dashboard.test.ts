/**
 * The dashboard's parts without a server: the embedded page is the page's files (and its
 * CSP hashes are of exactly its inline script and style), and the stats feed samples only
 * while a dashboard watches.
 */
import { describe, expect, spyOn, test } from "bun:test";
import { createHash } from "node:crypto";
import { DashboardFeed, type DashboardSample } from "../src/dashboard/feed.ts";
import { DASHBOARD_PAGE, DASHBOARD_SCRIPT_HASH, DASHBOARD_STYLE_HASH } from "../src/dashboard/page-source.ts";
import { DASHBOARD_CSP } from "../src/dashboard/routes.ts";
import { History } from "../src/history.ts";
import { Hub, type Subscriber } from "../src/hub.ts";
import { Metrics } from "../src/metrics.ts";
import { MemoryTransport } from "../src/transport/memory.ts";
import type { PresenceCounts, Transport } from "../src/transport/transport.ts";
import { dashboardModule } from "../scripts/embed-dashboard.ts";
import { ROOT } from "./helpers/runtimes.ts";
import { noSink } from "./helpers/sink.ts";

const sha256 = (text: string) => `sha256-${createHash("sha256").update(text).digest("base64")}`;
const inner = (tag: string) => {
  const all = [...DASHBOARD_PAGE.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))];
  expect(all).toHaveLength(1); // one inline script, one style sheet: what the CSP allows
  return all[0]![1]!;
};

describe("the embedded dashboard page", () => {
  test("is the page's files (else run: bun scripts/embed-dashboard.ts)", async () => {
    expect(await Bun.file(`${ROOT}src/dashboard/page-source.ts`).text()).toBe(dashboardModule());
  });

  test("its CSP allows exactly its one inline script and style sheet, and loads nothing from elsewhere", () => {
    expect(sha256(inner("script"))).toBe(DASHBOARD_SCRIPT_HASH);
    expect(sha256(inner("style"))).toBe(DASHBOARD_STYLE_HASH);
    expect(DASHBOARD_CSP).toContain(`script-src '${DASHBOARD_SCRIPT_HASH}'`);
    expect(DASHBOARD_CSP).toContain(`style-src '${DASHBOARD_STYLE_HASH}'`);
    expect(DASHBOARD_CSP).toMatch(/^default-src 'none'; /);
    expect(DASHBOARD_PAGE).not.toMatch(/\b(src|href)=["']?(https?:)?\/\//i);
    expect(DASHBOARD_PAGE).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});

class Watcher implements Subscriber {
  active = true;
  samples: DashboardSample[] = [];
  push(frame: Uint8Array) {
    const text = new TextDecoder().decode(frame);
    expect(text).toStartWith("event: stats\ndata: ");
    this.samples.push(JSON.parse(text.slice("event: stats\ndata: ".length)));
  }
  end() {}
}

/** A hub subscriber that keeps nothing. */
class Listener implements Subscriber {
  active = true;
  push() {}
  end() {}
}

const waitFor = async (ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await Bun.sleep(5);
  expect(ok()).toBe(true);
};

function feedFor(hub: Hub, transport: Transport, { clustered = false, intervalMs = 20 } = {}) {
  const metrics = new Metrics(hub);
  return { metrics, feed: new DashboardFeed({ hub, metrics, transport, clustered }, intervalMs) };
}

// The feed reads counts from its hub, not from the transport's sink (noSink).

describe("DashboardFeed", () => {
  test("samples only while a dashboard watches: a sample at once, then one per interval, stopped after the last leaves", async () => {
    const { feed } = feedFor(new Hub(), new MemoryTransport(noSink));
    expect(feed.running).toBe(false);
    const a = new Watcher();
    const b = new Watcher();
    const stopA = feed.watch(a);
    const stopB = feed.watch(b);
    expect(feed.running).toBe(true);
    await waitFor(() => a.samples.length >= 3 && b.samples.length >= 3);
    stopA();
    expect(feed.running).toBe(true);
    stopB();
    expect(feed.running).toBe(false);
    const seen = a.samples.length + b.samples.length;
    await Bun.sleep(100);
    expect(a.samples.length + b.samples.length).toBe(seen);
  });

  test("dashboards opening together cost one sample: each gets it", async () => {
    const hub = new Hub();
    // An interval no test outlasts: the only sample is the one the first dashboard asked for.
    const { feed } = feedFor(hub, new MemoryTransport(noSink), { intervalMs: 60_000 });
    const sampled = spyOn(hub, "busiestTopics");
    const watchers = Array.from({ length: 5 }, () => new Watcher());
    const stops = [feed.watch(watchers[0]!)];
    await waitFor(() => watchers[0]!.samples.length === 1);
    stops.push(...watchers.slice(1).map((w) => feed.watch(w)));
    expect(watchers.map((w) => w.samples.length)).toEqual([1, 1, 1, 1, 1]);
    expect(watchers[4]!.samples[0]).toEqual(watchers[0]!.samples[0]!);
    expect(sampled).toHaveBeenCalledTimes(1);
    for (const stop of stops) stop();
  });

  test("a sample: streams, topics, counters, rejections by reason, history, busiest topics", async () => {
    const hub = new Hub(new History({ perTopic: 10, maxAgeMs: 60_000, maxBytes: 1 << 20 }));
    const { feed, metrics } = feedFor(hub, new MemoryTransport(noSink));
    const subs = [new Listener(), new Listener()];
    hub.subscribe(subs[0]!, ["a", "b"]);
    hub.subscribe(subs[1]!, ["b"]);
    hub.dispatch([{ topic: "b", event: "", data: "x" }]);
    metrics.submissionAccepted(1, 0.2);
    metrics.slowConsumers.inc();
    metrics.rejectToken("expired");
    metrics.rejectToken("forged");
    metrics.rejectToken("forged");
    const sample = await feed.sample();
    expect(sample).toMatchObject({
      streams: 2,
      topics: 2,
      submissions: 1,
      eventsSubmitted: 1,
      deliveries: 2,
      slowConsumers: 1,
      tokenRejections: { expired: 1, forged: 2 },
      history: { events: 1 },
      redis: null,
      busiest: [
        { topic: "b", subscribers: 2 },
        { topic: "a", subscribers: 1 },
      ],
    });
    expect(sample.bytesWritten).toBeGreaterThan(0);
    expect(Math.abs(sample.time - Date.now())).toBeLessThan(60_000);
  });

  test("clustered: Redis readiness, the instances the transport sees, and its cluster-wide counts", async () => {
    const hub = new Hub();
    hub.subscribe(new Listener(), ["local"]);
    hub.subscribe(new Listener(), ["shared"]);
    const asked: string[][] = [];
    const transport: Transport = Object.assign(new MemoryTransport(noSink), {
      ready: false,
      presence: (topics: readonly string[]): Promise<PresenceCounts> => {
        asked.push([...topics]);
        return Promise.resolve({ topics: { shared: 7 }, instances: 3 });
      },
    });
    const { feed } = feedFor(hub, transport, { clustered: true });
    // The first sample does not wait for the broker; the next one has its answer.
    expect((await feed.sample()).redis).toEqual({ ready: false, instances: null });
    await Bun.sleep(0);
    const sample = await feed.sample();
    expect(sample.redis).toEqual({ ready: false, instances: 3 });
    expect(sample.busiest).toEqual([
      { topic: "shared", subscribers: 7 },
      { topic: "local", subscribers: 1 },
    ]);
    expect(asked[0]).toEqual(["local", "shared"]);
  });
});

import { describe, expect, test } from "bun:test";
import { History, type HistoryLimits } from "../src/history.ts";
import { encodeEvent } from "../src/sse.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const limits: HistoryLimits = { perTopic: 100, maxAgeMs: 60_000, maxBytes: 1 << 20 };

function fixture(overrides: Partial<HistoryLimits> = {}) {
  let now = 1_000_000;
  const history = new History({ ...limits, ...overrides }, { clock: () => now, epoch: "epoch1" });
  const add = (topic: string, data: string) => history.append(topic, "", data);
  const replay = (topics: string[], lastId: string) => {
    const result = history.resume(topics, lastId);
    return result.ok ? result.entries.map((e) => text(e.frame).match(/data: (.*)/)![1]) : result.reason;
  };
  return { history, add, replay, advance: (ms: number) => (now += ms) };
}

describe("History", () => {
  test("numbers events with a short id: epoch, dash, base-36 position", () => {
    const { history, add } = fixture();
    expect(history.currentId).toBe("epoch1-0");
    expect(text(add("t", "a"))).toBe("id: epoch1-1\ndata: a\n\n");
    for (let i = 0; i < 40; i++) add("t", "x");
    expect(history.currentId).toBe("epoch1-15"); // 41 in base 36
  });

  test("replays exactly what came after the id, in order", () => {
    const { history, add, replay } = fixture();
    add("t", "1");
    const seen = history.currentId;
    add("t", "2");
    add("other", "no");
    add("t", "3");
    expect(replay(["t"], seen)).toEqual(["2", "3"]);
    expect(replay(["t"], history.currentId)).toEqual([]);
  });

  test("several topics interleave by position", () => {
    const { history, add, replay } = fixture();
    const start = history.currentId;
    add("a", "a1");
    add("b", "b1");
    add("c", "c1");
    add("a", "a2");
    add("b", "b2");
    expect(replay(["b", "a"], start)).toEqual(["a1", "b1", "a2", "b2"]);
  });

  test("a topic that lost events to its count bound cannot resume from before them", () => {
    const { history, add, replay } = fixture({ perTopic: 2 });
    const start = history.currentId;
    add("t", "1");
    const afterFirst = history.currentId;
    add("t", "2");
    add("t", "3"); // evicts 1
    add("quiet", "q");
    expect(replay(["t"], start)).toBe("evicted");
    expect(replay(["t"], afterFirst)).toEqual(["2", "3"]);
    // Another topic's bound does not affect this one.
    expect(replay(["quiet"], start)).toEqual(["q"]);
  });

  test("events age out; a client older than the oldest kept event gets a gap", () => {
    const { history, add, replay, advance } = fixture({ maxAgeMs: 1000 });
    const start = history.currentId;
    add("t", "old");
    const afterOld = history.currentId;
    advance(800);
    add("t", "new");
    advance(300);
    history.sweep();
    expect(replay(["t"], start)).toBe("evicted");
    expect(replay(["t"], afterOld)).toEqual(["new"]);
    expect(history.size).toBe(1);
  });

  test("the total byte bound evicts the oldest events of any topic", () => {
    const { history, add, replay } = fixture({ maxBytes: 2000 });
    const start = history.currentId;
    for (let i = 0; i < 50; i++) add(`topic-${i % 5}`, "x".repeat(100));
    expect(history.bytes).toBeLessThanOrEqual(2000);
    expect(history.size).toBeGreaterThan(0);
    expect(replay(["topic-0"], start)).toBe("evicted");
    const recent = history.currentId;
    add("topic-0", "fresh");
    expect(replay(["topic-0"], recent)).toEqual(["fresh"]);
  });

  test("ids of another epoch, from the future, or malformed are unknown", () => {
    const { history, add, replay } = fixture();
    add("t", "1");
    for (const id of ["other-1", "epoch1-2", "epoch1-zzzzzzzzzzzz", "epoch1-", "epoch1-A", "garbage", "", "epoch1-1-1", "-1"]) {
      expect({ id, result: replay(["t"], id) }).toEqual({ id, result: "unknown-id" });
    }
    expect(history.resume(["t"], "epoch1-0").ok).toBe(true);
  });

  test("memory stays bounded under a firehose on one topic", () => {
    const { history, add } = fixture({ perTopic: 10 });
    for (let i = 0; i < 20_000; i++) add("hot", String(i));
    expect(history.size).toBe(10);
    expect(history.bytes).toBeLessThan(10 * 300); // ten small frames plus overhead
  });

  test("topics whose events all aged out are forgotten", () => {
    const { history, add, replay, advance } = fixture({ maxAgeMs: 10 });
    for (let i = 0; i < 100; i++) add(`t${i}`, "x");
    advance(20);
    history.sweep();
    expect(history.size).toBe(0);
    expect(history.bytes).toBe(0);
    expect(history.topicCount).toBe(0);
    expect(replay(["t5"], history.currentId)).toEqual([]);
  });

  test("partial coverage (clustered): resume only what arrived while the topic was received", () => {
    const history = new History(limits, { epoch: "e", partialCoverage: true });
    const start = history.currentId;
    expect(history.resume(["t"], start)).toEqual({ ok: false, reason: "evicted" }); // never received
    history.coverageGained("t");
    const covered = history.currentId;
    history.append("other", "", "elsewhere");
    history.append("t", "", "1");
    expect(history.resume(["t"], start)).toEqual({ ok: false, reason: "evicted" }); // before coverage
    const resumed = history.resume(["t"], covered);
    expect(resumed.ok && resumed.entries.length).toBe(1);
    history.coverageLost("t");
    expect(history.resume(["t"], covered)).toEqual({ ok: false, reason: "evicted" });
    history.coverageGained("t");
    history.coverageGained("u");
    history.coverageLost();
    expect(history.resume(["u"], history.currentId)).toEqual({ ok: false, reason: "evicted" });
  });
});

describe("History: what is kept", () => {
  test("a non-ASCII event is replayed as the exact bytes handed to live subscribers", () => {
    const { history, add } = fixture();
    const start = history.currentId;
    const live = [add("t", "héllo — 日本 🎉"), add("t", "ascii"), add("t", "ß".repeat(5000))];
    const result = history.resume(["t"], start);
    expect(result.ok && result.entries.map((e) => e.frame)).toEqual(live);
    expect(text(live[0]!)).toBe("id: epoch1-1\ndata: héllo — 日本 🎉\n\n");
  });

  test("an event kept unframed (no stream takes it now) is replayed as encodeEvent frames it", () => {
    const { history } = fixture();
    const start = history.currentId;
    const events: [string, string][] = [["", "ascii"], ["named", "é — 日本"], ["", "two\nlines"], ["n", ""], ["", "x".repeat(300_000)]];
    for (const [event, data] of events) expect(history.append("t", event, data, false)).toBeUndefined();
    const result = history.resume(["t"], start);
    expect(result.ok && result.entries.map((e) => e.frame)).toEqual(events.map(([event, data], i) => encodeEvent(event, data, history.idOf(i + 1))));
  });

  test("an epoch given that is not ASCII still gets encodeEvent's frames", () => {
    const history = new History(limits, { epoch: "é" });
    history.append("t", "", "x", false);
    const result = history.resume(["t"], "é-0");
    expect(result.ok && result.entries.map((e) => e.frame)).toEqual([encodeEvent("", "x", "é-1")]);
  });

  test("many topics under their count bound: size, bytes and every replay match a model of what is kept", () => {
    const { history, add } = fixture({ perTopic: 20 });
    const model = new Map<string, { seq: number; data: string }[]>();
    const frameBytes = new Map<number, number>();
    const lost = new Map<string, number>(); // each topic's last event lost to the bound
    let seed = 7;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (let seq = 1; seq <= 20_000; seq++) {
      const topic = `t${Math.floor(random() * random() * 50)}`; // skewed: some topics hot, some quiet
      const data = `${seq}:${"é".repeat(seq % 13)}`;
      frameBytes.set(seq, add(topic, data).length);
      const kept = model.get(topic) ?? [];
      kept.push({ seq, data });
      if (kept.length > 20) lost.set(topic, kept.shift()!.seq);
      model.set(topic, kept);
    }
    const all = [...model.values()].flat();
    expect(history.size).toBe(all.length);
    const overhead = (history.bytes - all.reduce((sum, e) => sum + frameBytes.get(e.seq)!, 0)) / all.length;
    expect(Number.isInteger(overhead) && overhead > 0).toBe(true); // a constant per kept event
    for (const [topic, kept] of model) {
      const from = lost.get(topic) ?? 0;
      const result = history.resume([topic], history.idOf(from));
      expect({ topic, replay: result.ok ? result.entries.map((e) => text(e.frame).match(/data: (.*)/)![1]) : result.reason }).toEqual({
        topic,
        replay: kept.map((e) => e.data),
      });
      if (from > 0) expect(history.resume([topic], history.idOf(from - 1))).toEqual({ ok: false, reason: "evicted" });
    }
    // Every topic at once, through the prefix path (the global order): all kept since the
    // last loss of any topic, in seq order; from before that loss, a gap.
    const since = Math.max(...lost.values());
    const everything = history.resume([], history.idOf(since), ["t"]);
    expect(everything.ok && everything.entries.map((e) => text(e.frame).match(/data: (.*)/)![1])).toEqual(
      all.filter((e) => e.seq > since).sort((a, b) => a.seq - b.seq).map((e) => e.data),
    );
    expect(history.resume([], history.idOf(since - 1), ["t"])).toEqual({ ok: false, reason: "evicted" });
  });
});

describe("History: resuming prefix grants", () => {
  function prefixFixture(overrides: Partial<HistoryLimits> = {}) {
    const base = fixture(overrides);
    const replayGrants = (topics: string[], prefixes: string[], lastId: string) => {
      const result = base.history.resume(topics, lastId, prefixes);
      return result.ok ? result.entries.map((e) => text(e.frame).match(/data: (.*)/)![1]) : result.reason;
    };
    return { ...base, replayGrants };
  }

  test("every topic under the prefix, plus the listed topics, in one order; nothing else", () => {
    const { history, add, replayGrants } = prefixFixture();
    add("u/1", "before");
    const start = history.currentId;
    add("u/1", "a");
    add("v", "not granted");
    add("t", "b");
    add("u/2/x", "c");
    add("u", "not under u/");
    add("u/1", "d");
    expect(replayGrants(["t"], ["u/"], start)).toEqual(["a", "b", "c", "d"]);
    expect(replayGrants([], ["u/2/", "zzz"], start)).toEqual(["c"]);
    expect(replayGrants([], ["u/"], history.currentId)).toEqual([]);
  });

  test("a topic under the prefix that lost an event after the id to its count bound is a gap; another topic's is not", () => {
    const { history, add, replayGrants } = prefixFixture({ perTopic: 2 });
    const start = history.currentId;
    add("u/hot", "1");
    add("u/hot", "2");
    add("u/hot", "3"); // evicts 1
    add("elsewhere", "x");
    for (let i = 0; i < 5; i++) add("other/hot", String(i)); // evicts three, none granted
    expect(replayGrants([], ["u/"], start)).toBe("evicted");
    expect(replayGrants(["u/hot"], [], start)).toBe("evicted");
    const later = history.currentId;
    add("u/cold", "c");
    for (let i = 0; i < 5; i++) add("other/hot", String(i));
    expect(replayGrants([], ["u/"], later)).toEqual(["c"]);
  });

  test("the count-bound gap is still found after the evicted entries were compacted away", () => {
    const { history, add, replayGrants } = prefixFixture({ perTopic: 1 });
    const start = history.currentId;
    add("u/a", "gone");
    for (let i = 0; i < 5000; i++) add("busy", String(i)); // compacts the evicted entries
    add("u/a", "kept"); // evicts "gone"
    for (let i = 0; i < 5000; i++) add("busy", String(i));
    expect(replayGrants([], ["u/"], start)).toBe("evicted");
  });

  test("aged out, byte bound, unknown ids: as for topics", () => {
    const { history, add, replayGrants, advance } = prefixFixture({ maxAgeMs: 1000 });
    const start = history.currentId;
    add("other", "old");
    advance(1500);
    add("u/1", "new");
    expect(replayGrants([], ["u/"], start)).toBe("evicted");
    expect(replayGrants([], ["u/"], "garbage")).toBe("unknown-id");
    expect(replayGrants([], ["u/"], "epoch1-zz")).toBe("unknown-id");
  });

  test("with partial coverage (a Redis Cluster, where prefixes are not served) a prefix resume is a gap", () => {
    const history = new History(limits, { epoch: "e", partialCoverage: true });
    history.coverageGained("u/1");
    const start = history.currentId;
    history.append("u/1", "", "1");
    expect(history.resume([], start, ["u/"])).toEqual({ ok: false, reason: "evicted" });
  });
});

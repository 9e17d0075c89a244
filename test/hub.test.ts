import { describe, expect, spyOn, test } from "bun:test";
import { History } from "../src/history.ts";
import { Hub, type Subscriber, type TopicInterest } from "../src/hub.ts";
import * as sse from "../src/sse.ts";
import { HEARTBEAT_FRAME } from "../src/sse.ts";

class Recorder implements Subscriber {
  frames: Uint8Array[] = [];
  ended = false;
  active = true;
  push(frame: Uint8Array) {
    this.active = true;
    this.frames.push(frame);
  }
  end() {
    this.ended = true;
  }
  get texts() {
    return this.frames.map((f) => new TextDecoder().decode(f));
  }
}

const ev = (topic: string, data: string, event = "") => ({ topic, event, data });

/**
 * Counts frames made: by `encodeEvent`, or by `writeAsciiFrame` where the history keeps
 * an event no stream takes now (an ASCII one: else it tries that, then encodeEvent).
 */
function spyOnFraming() {
  const spies = [spyOn(sse, "encodeEvent"), spyOn(sse, "writeAsciiFrame")];
  return {
    count: () => spies.reduce((sum, spy) => sum + spy.mock.calls.length, 0),
    mockClear: () => spies.forEach((spy) => spy.mockClear()),
    mockRestore: () => spies.forEach((spy) => spy.mockRestore()),
  };
}

describe("Hub", () => {
  test("delivers each event to the subscribers of its topic, in order", () => {
    const hub = new Hub();
    const a = new Recorder();
    const b = new Recorder();
    hub.subscribe(a, ["x"]);
    hub.subscribe(b, ["x", "y"]);
    const deliveries = hub.dispatch([ev("x", "1"), ev("y", "2"), ev("z", "3"), ev("x", "4")]);
    expect(deliveries).toBe(5);
    expect(a.texts).toEqual(["data: 1\n\n", "data: 4\n\n"]);
    expect(b.texts).toEqual(["data: 1\n\n", "data: 2\n\n", "data: 4\n\n"]);
  });

  // ARCHITECTURE.md, "An event is encoded once". Counted where every frame is made, so a hub
  // that framed per subscriber (or framed twice and shared one) fails here.
  test("an event is encoded once, whatever the number of its subscribers", () => {
    const encodings = spyOnFraming();
    try {
      for (const count of [1, 2, 50]) {
        const history = new History({ perTopic: 10, maxAgeMs: 60_000, maxBytes: 1 << 20 });
        const hubs = { plain: new Hub(), history: new Hub(history) };
        for (const [kind, hub] of Object.entries(hubs)) {
          const subs = Array.from({ length: count }, () => new Recorder());
          for (const s of subs) hub.subscribe(s, ["t", "u"]);
          const start = history.currentId;
          encodings.mockClear();
          hub.dispatch([ev("t", "1"), ev("u", "2"), ev("nobody", "3")]);
          hub.dispatchNumbered([{ ...ev("t", "4"), id: "e-1", position: 1 }]);
          // Without history, an event no one hears is never framed; with it, it is kept.
          expect(encodings.count()).toBe(kind === "plain" ? 3 : 4);
          const frames = subs[0]!.frames;
          expect(subs[0]!.texts.map((t) => t.match(/data: (.*)/)?.[1])).toEqual(["1", "2", "4"]);
          for (const s of subs) for (const [i, frame] of s.frames.entries()) expect(frame).toBe(frames[i]!);
          // The history replays the same bytes the live subscribers were handed (a copy: it keeps them in its own buffers).
          if (kind === "history") {
            const replay = history.resume(["t", "u"], start);
            if (!replay.ok) throw new Error(`resume failed: ${replay.reason}`);
            expect(replay.entries).toHaveLength(2);
            replay.entries.forEach((e, i) => expect(e.frame).toEqual(frames[i]!));
          }
        }
      }
    } finally {
      encodings.mockRestore();
    }
  });

  test("unsubscribe leaves no trace: topics and subscribers are dropped", () => {
    const hub = new Hub();
    const a = new Recorder();
    const b = new Recorder();
    hub.subscribe(a, ["x", "y"]);
    hub.subscribe(b, ["y"]);
    hub.unsubscribe(a, ["x", "y"]);
    expect(hub.subscriberCount).toBe(1);
    expect(hub.topicCount).toBe(1);
    expect(hub.hasTopic("x")).toBe(false);
    hub.dispatch([ev("x", "1"), ev("y", "2")]);
    expect(a.frames).toEqual([]);
    hub.unsubscribe(b, ["y"]);
    expect(hub.subscriberCount).toBe(0);
    expect(hub.topicCount).toBe(0);
    hub.unsubscribe(b, ["y"]); // twice is harmless
    expect(hub.topicCount).toBe(0);
  });

  test("reports topics gaining their first and losing their last subscriber", () => {
    const calls: string[] = [];
    const interest: TopicInterest = {
      topicOpened: (t) => calls.push(`+${t}`),
      topicClosed: (t) => calls.push(`-${t}`),
    };
    const hub = new Hub();
    hub.watchInterest(interest);
    const a = new Recorder();
    const b = new Recorder();
    hub.subscribe(a, ["x", "y"]);
    hub.subscribe(b, ["x"]);
    hub.unsubscribe(a, ["x", "y"]);
    hub.unsubscribe(b, ["x"]);
    expect(calls).toEqual(["+x", "+y", "-y", "-x"]);
  });

  test("a topic's audience grows from one subscriber to many and back, delivering throughout", () => {
    const hub = new Hub();
    const [a, b, c] = [new Recorder(), new Recorder(), new Recorder()];
    hub.subscribe(a, ["t"]);
    expect(hub.dispatch([ev("t", "1")])).toBe(1);
    hub.subscribe(b, ["t"]);
    hub.subscribe(c, ["t"]);
    expect(hub.dispatch([ev("t", "2")])).toBe(3);
    hub.unsubscribe(a, ["t"]);
    hub.unsubscribe(c, ["t"]);
    expect(hub.dispatch([ev("t", "3")])).toBe(1);
    expect(a.texts).toEqual(["data: 1\n\n", "data: 2\n\n"]);
    expect(b.texts).toEqual(["data: 2\n\n", "data: 3\n\n"]);
    expect(c.texts).toEqual(["data: 2\n\n"]);
    hub.unsubscribe(b, ["t"]);
    expect(hub.hasTopic("t")).toBe(false);
    expect(hub.dispatch([ev("t", "4")])).toBe(0);
    expect(b.frames.length).toBe(2);
  });

  test("a subscriber unknown to a topic cannot remove the one subscriber it has", () => {
    const hub = new Hub();
    const [a, b] = [new Recorder(), new Recorder()];
    hub.subscribe(a, ["t"]);
    hub.subscribe(b, ["u"]);
    hub.unsubscribe(b, ["t", "u"]);
    expect(hub.hasTopic("t")).toBe(true);
    expect(hub.dispatch([ev("t", "1")])).toBe(1);
    expect(a.texts).toEqual(["data: 1\n\n"]);
  });

  test("a frame handed to a subscriber that leaves on it counts, alone on its topic or not", () => {
    const hub = new Hub();
    const leaving = (topics: string[]) => {
      const recorder = new Recorder();
      recorder.push = (frame) => (recorder.frames.push(frame), hub.unsubscribe(recorder, topics));
      return recorder;
    };
    hub.subscribe(leaving(["alone"]), ["alone"]);
    hub.subscribe(leaving(["shared"]), ["shared"]);
    hub.subscribe(new Recorder(), ["shared"]);
    expect(hub.dispatch([ev("alone", "1"), ev("shared", "2")])).toBe(3);
    expect(hub.deliveries).toBe(3);
    expect(hub.hasTopic("alone")).toBe(false);
  });

  test("heartbeat reaches only streams idle since the previous tick", () => {
    const hub = new Hub();
    const busy = new Recorder();
    const idle = new Recorder();
    hub.subscribe(busy, ["b"]);
    hub.subscribe(idle, []);
    hub.heartbeat(); // both were just opened: marks them, sends nothing
    expect(idle.frames).toEqual([]);
    hub.dispatch([ev("b", "1")]);
    hub.heartbeat();
    expect(busy.frames).toHaveLength(1);
    expect(idle.frames).toEqual([HEARTBEAT_FRAME]);
    hub.heartbeat(); // still idle: another heartbeat each tick
    expect(idle.frames).toEqual([HEARTBEAT_FRAME, HEARTBEAT_FRAME]);
    expect(busy.frames.at(-1)).toEqual(HEARTBEAT_FRAME);
  });

  test("endAll ends every stream", () => {
    const hub = new Hub();
    const subs = [new Recorder(), new Recorder()];
    subs.forEach((s, i) => hub.subscribe(s, [`t${i}`]));
    hub.endAll();
    expect(subs.every((s) => s.ended)).toBe(true);
  });

  test("audienceSize: the streams an event of the topic would reach, as they join and leave", () => {
    const hub = new Hub();
    const changes: string[][] = [];
    hub.watchAudiences((topics, prefixes) => changes.push([...topics, ...prefixes.map((p) => `${p}*`)]));
    const [a, b, c] = [new Recorder(), new Recorder(), new Recorder()];
    expect(hub.audienceSize("x")).toBe(0);
    hub.subscribe(a, ["x"]);
    hub.subscribe(b, ["x", "y"]);
    hub.subscribe(c, ["x"]);
    expect([hub.audienceSize("x"), hub.audienceSize("y")]).toEqual([3, 1]);
    expect([...hub.grants()]).toEqual([["x", false, 3], ["y", false, 1]]);
    hub.unsubscribe(b, ["x", "y"]);
    expect([hub.audienceSize("x"), hub.audienceSize("y")]).toEqual([2, 0]);
    hub.unsubscribe(b, ["x", "y"]); // already gone: no change
    hub.unsubscribe(a, ["x"]);
    hub.unsubscribe(c, ["x"]);
    expect(hub.audienceSize("x")).toBe(0);
    expect([...hub.grants()]).toEqual([]);
    expect(changes).toEqual([["x"], ["x", "y"], ["x"], ["x", "y"], ["x"], ["x"]]);
    // Prefix grants are counted and reported as prefixes; a topic under one is dropped from the stream's grants.
    hub.subscribe(a, ["x", "p/q"], ["p/"]);
    expect([hub.grantSize("p/", true), hub.grantSize("p/q", false), hub.audienceSize("p/q")]).toEqual([1, 0, 1]);
    expect([...hub.grants()]).toEqual([["x", false, 1], ["p/", true, 1]]);
    hub.unsubscribe(a, ["x", "p/q"], ["p/"]);
    expect(changes.slice(-2)).toEqual([["x", "p/*"], ["x", "p/*"]]);
  });
});

describe("Hub: prefix grants", () => {
  const datas = (r: Recorder) => r.texts.map((t) => t.match(/data: (.*)/)?.[1]);

  test("a prefix stream gets every topic under its prefix, in order, and no other", () => {
    const hub = new Hub();
    const user = new Recorder();
    hub.subscribe(user, [], ["user-42/"]);
    const deliveries = hub.dispatch([
      ev("user-42/inbox", "1"),
      ev("user-421/inbox", "no"),
      ev("user-42", "no"),
      ev("user-42/", "2"),
      ev("other", "no"),
      ev("user-42/a/b", "3"),
    ]);
    expect(deliveries).toBe(3);
    expect(datas(user)).toEqual(["1", "2", "3"]);
  });

  test("overlapping prefixes and exact topics across streams: each stream gets each event once", () => {
    const hub = new Hub();
    const [short, long, exact, mixed] = [new Recorder(), new Recorder(), new Recorder(), new Recorder()];
    hub.subscribe(short, [], ["a/"]);
    hub.subscribe(long, [], ["a/b/"]);
    hub.subscribe(exact, ["a/b/c"]);
    // Its own grants overlap: the exact topic and the longer prefix are under "a/".
    hub.subscribe(mixed, ["a/b/c", "z"], ["a/b/", "a/"]);
    const deliveries = hub.dispatch([ev("a/b/c", "1"), ev("a/x", "2"), ev("z", "3"), ev("a/b/d", "4")]);
    expect(datas(short)).toEqual(["1", "2", "4"]);
    expect(datas(long)).toEqual(["1", "4"]);
    expect(datas(exact)).toEqual(["1"]);
    expect(datas(mixed)).toEqual(["1", "2", "3", "4"]);
    expect(deliveries).toBe(3 + 2 + 1 + 4);
    expect(hub.audienceSize("a/b/c")).toBe(4);
    expect(hub.audienceSize("a/q")).toBe(2);
    expect(hub.audienceSize("z")).toBe(1);
    expect(hub.audienceSize("nobody")).toBe(0);
  });

  test("numbered events (shared history) reach prefix streams with their position", () => {
    const hub = new Hub();
    const positions: (number | undefined)[] = [];
    const sub: Subscriber = { active: true, push: (_frame, position) => positions.push(position), end: () => {} };
    hub.subscribe(sub, ["t"], ["p/"]);
    hub.dispatchNumbered([
      { ...ev("p/1", "a"), id: "e-7", position: 7 },
      { ...ev("q", "b"), id: "e-8", position: 8 },
      { ...ev("t", "c"), id: "e-9", position: 9 },
    ]);
    expect(positions).toEqual([7, 9]);
  });

  test("an event is encoded once for its topic's and its prefixes' subscribers alike", () => {
    const encodings = spyOnFraming();
    try {
      for (const withHistory of [false, true]) {
        const history = new History({ perTopic: 10, maxAgeMs: 60_000, maxBytes: 1 << 20 });
        const hub = new Hub(withHistory ? history : undefined);
        // Two each of: the exact topic "p/x", the prefix "p/", the prefix "p/x/".
        const subs = Array.from({ length: 6 }, () => new Recorder());
        subs.forEach((s, i) => hub.subscribe(s, i % 3 === 0 ? ["p/x"] : [], i % 3 === 1 ? ["p/"] : i % 3 === 2 ? ["p/x/"] : []));
        encodings.mockClear();
        hub.dispatch([ev("p/x/1", "1"), ev("nobody", "2")]);
        hub.dispatchNumbered([{ ...ev("p/x", "3"), id: "e-1", position: 1 }]);
        // Without history, an event no one hears is never framed; with it, it is kept.
        expect(encodings.count()).toBe(withHistory ? 3 : 2);
        expect(subs.map(datas)).toEqual([["3"], ["1", "3"], ["1"], ["3"], ["1", "3"], ["1"]]);
        const [underPx, px] = subs[1]!.frames;
        for (const s of [subs[1]!, subs[2]!, subs[4]!, subs[5]!]) expect(s.frames[0]).toBe(underPx!);
        for (const s of [subs[0]!, subs[3]!]) expect(s.frames[0]).toBe(px!);
        expect(subs[4]!.frames[1]).toBe(px!);
      }
    } finally {
      encodings.mockRestore();
    }
  });

  test("unsubscribe leaves no prefix behind, and later events reach no one", () => {
    const hub = new Hub();
    const [a, b] = [new Recorder(), new Recorder()];
    hub.subscribe(a, ["t"], ["p/", "q/"]);
    hub.subscribe(b, [], ["p/"]);
    expect(hub.prefixCount).toBe(2);
    hub.unsubscribe(a, ["t"], ["p/", "q/"]);
    expect(hub.prefixCount).toBe(1);
    expect(hub.hasPrefix("q/")).toBe(false);
    expect(hub.topicCount).toBe(0);
    hub.unsubscribe(b, [], ["p/"]);
    expect(hub.prefixCount).toBe(0);
    expect(hub.dispatch([ev("p/1", "1"), ev("q/1", "2"), ev("t", "3")])).toBe(0);
    expect(a.frames).toEqual([]);
    expect(b.frames).toEqual([]);
    expect(hub.subscriberCount).toBe(0);
  });

  test("reports prefixes gaining their first and losing their last subscriber (as granted: disjoint)", () => {
    const calls: string[] = [];
    const hub = new Hub();
    hub.watchInterest({
      topicOpened: (t) => calls.push(`+${t}`),
      topicClosed: (t) => calls.push(`-${t}`),
      prefixOpened: (p) => calls.push(`+${p}*`),
      prefixClosed: (p) => calls.push(`-${p}*`),
    });
    const [a, b] = [new Recorder(), new Recorder()];
    hub.subscribe(a, ["x", "p/1"], ["p/", "p/q/"]); // "p/1" and "p/q/" are covered by "p/"
    hub.subscribe(b, [], ["p/"]);
    hub.unsubscribe(a, ["x", "p/1"], ["p/", "p/q/"]);
    hub.unsubscribe(b, [], ["p/"]);
    expect(calls).toEqual(["+x", "+p/*", "-x", "-p/*"]);
  });

  test("heartbeats, endAll and drain reach prefix streams like any other", async () => {
    const hub = new Hub();
    const [a, b] = [new Recorder(), new Recorder()];
    hub.subscribe(a, [], ["p/"]);
    hub.subscribe(b, [], ["p/"]);
    a.active = false;
    b.active = false;
    hub.heartbeat();
    expect(a.frames).toEqual([HEARTBEAT_FRAME]);
    expect(b.frames).toEqual([HEARTBEAT_FRAME]);
    await hub.drain(0);
    expect(a.ended && b.ended).toBe(true);
  });
});

describe("Hub.busiestTopics", () => {
  test("the n topics with the most local subscribers, most first, ties in subscription order", () => {
    const hub = new Hub();
    const subs = Array.from({ length: 5 }, () => new Recorder());
    hub.subscribe(subs[0]!, ["solo", "pair", "crowd"]);
    hub.subscribe(subs[1]!, ["pair", "crowd", "other"]);
    hub.subscribe(subs[2]!, ["crowd"]);
    hub.subscribe(subs[3]!, ["crowd", "late"]);
    expect(hub.busiestTopics(3)).toEqual([
      { topic: "crowd", subscribers: 4 },
      { topic: "pair", subscribers: 2 },
      { topic: "solo", subscribers: 1 },
    ]);
    expect(hub.busiestTopics(10).map((t) => t.topic)).toEqual(["crowd", "pair", "solo", "other", "late"]);
    expect(hub.busiestTopics(0)).toEqual([]);
    hub.unsubscribe(subs[3]!, ["crowd", "late"]);
    hub.unsubscribe(subs[2]!, ["crowd"]);
    hub.unsubscribe(subs[1]!, ["pair", "crowd", "other"]);
    expect(hub.busiestTopics(2)).toEqual([
      { topic: "solo", subscribers: 1 },
      { topic: "pair", subscribers: 1 },
    ]);
  });
});

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

  // ARCHITECTURE.md, "An event is encoded once". Counted at the encoder itself, so a hub
  // that framed per subscriber (or framed twice and shared one) fails here.
  test("an event is encoded once, whatever the number of its subscribers", () => {
    const encodings = spyOn(sse, "encodeEvent");
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
          expect(encodings).toHaveBeenCalledTimes(kind === "plain" ? 3 : 4);
          const frames = subs[0]!.frames;
          expect(subs[0]!.texts.map((t) => t.match(/data: (.*)/)?.[1])).toEqual(["1", "2", "4"]);
          for (const s of subs) for (const [i, frame] of s.frames.entries()) expect(frame).toBe(frames[i]!);
          // The history replays the very bytes the live subscribers were handed.
          if (kind === "history") {
            const replay = history.resume(["t", "u"], start);
            if (!replay.ok) throw new Error(`resume failed: ${replay.reason}`);
            expect(replay.entries).toHaveLength(2);
            replay.entries.forEach((e, i) => expect(e.frame).toBe(frames[i]!));
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

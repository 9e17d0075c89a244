/** How submissions are cut into Redis messages and read back. */
import { describe, expect, test } from "bun:test";
import { encode } from "@msgpack/msgpack";
import type { SseEvent } from "../../src/sse.ts";
import { decodeBatch, encodeBatch, topicGroups, topicRuns, WireError } from "../../src/transport/redis/wire.ts";

const ev = (topic: string, data: string): SseEvent => ({ topic, event: "e", data });

describe("redis wire format", () => {
  test("topic runs keep the exact order; topic groups keep it per topic", () => {
    const events = [ev("a", "1"), ev("a", "2"), ev("b", "3"), ev("a", "4")];
    expect(topicRuns(events)).toEqual([
      { topic: "a", events: [ev("a", "1"), ev("a", "2")] },
      { topic: "b", events: [ev("b", "3")] },
      { topic: "a", events: [ev("a", "4")] },
    ]);
    expect(topicGroups(events)).toEqual([
      { topic: "a", events: [ev("a", "1"), ev("a", "2"), ev("a", "4")] },
      { topic: "b", events: [ev("b", "3")] },
    ]);
    expect(topicRuns([])).toEqual([]);
  });

  test("a batch round-trips, unicode and empty strings included", () => {
    const events = [ev("t", ""), { topic: "t", event: "", data: "héllo\n😀" }];
    expect(decodeBatch(encodeBatch(events))).toEqual(events);
  });

  test("anything else is a WireError", () => {
    for (const payload of [
      new TextEncoder().encode("plain text"),
      encode({ events: [] }),
      encode([["t", "e"]]),
      encode([["t", "e", 1]]),
      Uint8Array.of(0xc1),
    ]) {
      expect(() => decodeBatch(payload)).toThrow(WireError);
    }
  });
});

import { describe, expect, test } from "bun:test";
import type { Subscriber } from "../src/hub.ts";
import { StartingSubscriber } from "../src/starting.ts";

const frame = (label: string) => new TextEncoder().encode(label);
const label = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

class RecordingStream implements Subscriber {
  active = true;
  ended = false;
  readonly got: string[] = [];
  push(bytes: Uint8Array): void {
    this.got.push(label(bytes));
  }
  end(): void {
    this.ended = true;
  }
}

describe("StartingSubscriber", () => {
  test("holds live events until attached, then hands on only those after the start, in order", () => {
    const starting = new StartingSubscriber(100);
    starting.push(frame("heartbeat")); // no position: dropped before the stream began
    for (const position of [5, 6, 7, 8]) starting.push(frame(`e${position}`), position);
    const stream = new RecordingStream();
    starting.attach(stream, 6); // 5 and 6 are in the replay
    expect(stream.got).toEqual(["e7", "e8"]);
    starting.push(frame("e6"), 6); // covered by the replay, arriving late on another connection
    starting.push(frame("e9"), 9);
    starting.push(frame("heartbeat")); // after attaching, frames without a position pass
    expect(stream.got).toEqual(["e7", "e8", "e9", "heartbeat"]);
  });

  test("activity and ending reach the stream once attached", () => {
    const starting = new StartingSubscriber(100);
    expect(starting.active).toBe(true);
    const stream = new RecordingStream();
    starting.attach(stream, 0);
    starting.active = false;
    expect(stream.active).toBe(false);
    starting.end();
    expect(stream.ended).toBe(true);
  });

  test("ended before attaching (shutdown, lost broker, or too much held): the start is abandoned", () => {
    const ended = new StartingSubscriber(100);
    ended.end();
    expect(ended.ended).toBe(true);
    const flooded = new StartingSubscriber(2);
    for (const position of [1, 2, 3]) flooded.push(frame("e"), position);
    expect(flooded.ended).toBe(true);
  });
});

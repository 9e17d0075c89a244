/** The per-stream `retry:` frames: drawn in range, on the range's steps, each encoded once. */
import { describe, expect, test } from "bun:test";
import { RetryFrames } from "../src/retry.ts";

const text = (frame: Uint8Array) => new TextDecoder().decode(frame);

describe("RetryFrames", () => {
  test("the ends of the random range give the ends of the delay range", () => {
    expect(new RetryFrames(1000, 9000, () => 0).drawMs()).toBe(1000);
    expect(new RetryFrames(1000, 9000, () => 0.999999).drawMs()).toBe(9000);
    expect(new RetryFrames(1000, 9000, () => 0.5).drawMs()).toBe(5000);
    expect(new RetryFrames(3000, 3000).drawMs()).toBe(3000);
  });

  test("a frame is a message with only a retry field, and one delay's frame is shared", () => {
    const frames = new RetryFrames(0, 640, () => 0.25);
    const first = frames.next();
    expect(text(first)).toBe("retry: 160\n\n");
    expect(frames.next()).toBe(first);
  });

  test("draws cover the range in 65 steps", () => {
    const frames = new RetryFrames(1000, 7400);
    const seen = new Set(Array.from({ length: 5000 }, () => frames.drawMs()));
    expect(Math.min(...seen)).toBe(1000);
    expect(Math.max(...seen)).toBe(7400);
    expect(seen.size).toBe(65);
    for (const ms of seen) expect((ms - 1000) % 100).toBe(0);
  });
});

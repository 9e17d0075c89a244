/** The expiry watch: a stream ends in the first tick after its token's last valid second, once. */
import { describe, expect, test } from "bun:test";
import { ExpiryWatch } from "../src/expiry.ts";

function clock(start: number) {
  let now = start;
  return { now: () => now, set: (s: number) => void (now = s) };
}

describe("ExpiryWatch", () => {
  test("streams end after their last valid second, each once, in the tick that passes it", () => {
    const time = clock(1000.2);
    const watch = new ExpiryWatch(time.now);
    const ended: string[] = [];
    const stream = (name: string) => ({ expire: () => void ended.push(name) });
    watch.watch(stream("a"), 1001);
    watch.watch(stream("b"), 1001);
    watch.watch(stream("c"), 1003);
    time.set(1001.9); // 1001 is still valid
    watch.tick();
    expect(ended).toEqual([]);
    time.set(1002.0);
    watch.tick();
    expect(ended).toEqual(["a", "b"]);
    time.set(1010); // a late tick catches up on every second it missed
    watch.tick();
    watch.tick();
    expect(ended).toEqual(["a", "b", "c"]);
    watch.close();
  });

  test("a stream that ended first is not expired; unwatching from inside expire is harmless", () => {
    const time = clock(500);
    const watch = new ExpiryWatch(time.now);
    const ended: string[] = [];
    const gone = watch.watch({ expire: () => void ended.push("gone") }, 500);
    let selfUnwatch = () => {};
    selfUnwatch = watch.watch({ expire: () => (ended.push("self"), selfUnwatch()) }, 500);
    gone();
    gone(); // twice: still once
    time.set(501);
    watch.tick();
    expect(ended).toEqual(["self"]);
    // The count stayed right: a new stream is still watched and ended.
    watch.watch({ expire: () => void ended.push("later") }, 502);
    time.set(503);
    watch.tick();
    expect(ended).toEqual(["self", "later"]);
    watch.close();
  });
});

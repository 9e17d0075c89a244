/** The in-memory transport's presence: the local hub is the whole answer. */
import { describe, expect, test } from "bun:test";
import { Hub, type Subscriber } from "../../src/hub.ts";
import { MemoryTransport } from "../../src/transport/memory.ts";

const stream = (): Subscriber => ({ push() {}, end() {}, active: false });

describe("MemoryTransport presence", () => {
  test("counts the hub's streams per topic, exactly; one instance; presence([]) asks only that", async () => {
    const hub = new Hub();
    const transport = new MemoryTransport({
      deliver: (events) => void hub.dispatch(events),
      deliverNumbered: () => {},
      endAllStreams: () => hub.endAll(),
      coverageGained: () => {},
      coverageLost: () => {},
      audienceSize: (topic) => hub.audienceSize(topic),
      grantSize: (grant, prefix) => hub.grantSize(grant, prefix),
      grants: () => hub.grants(),
    });
    const [a, b] = [stream(), stream()];
    hub.subscribe(a, ["x", "y"]);
    hub.subscribe(b, ["x"]);
    expect(await transport.presence(["x", "y", "z"])).toEqual({ topics: { x: 2, y: 1, z: 0 }, instances: 1 });
    hub.unsubscribe(a, ["x", "y"]);
    expect(await transport.presence(["x", "y"])).toEqual({ topics: { x: 1, y: 0 }, instances: 1 });
    expect(await transport.presence([])).toEqual({ topics: {}, instances: 1 });
    const special = await transport.presence(["__proto__", "constructor"]);
    expect(Object.entries(special)).toEqual([["topics", special.topics], ["instances", 1]]);
    expect(Object.entries(special.topics)).toEqual([["__proto__", 0], ["constructor", 0]]);
  });
});

import { describe, expect, test } from "bun:test";
import { Journal, NONE } from "../src/journal.ts";

const encoder = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A journal driven with frames `<seq>` (as text), and what is live in it per topic, newest first. */
function chainOf(journal: Journal, topic: number): string[] {
  const seen: string[] = [];
  for (let slot = journal.newestOf(topic); slot !== NONE; slot = journal.previousInTopic(slot)) {
    expect(journal.isDead(slot)).toBe(false);
    expect(journal.topicOf(slot)).toBe(topic);
    seen.push(text(journal.frameOf(slot)));
  }
  return seen;
}

function add(journal: Journal, seq: number, topic: number, frame = `frame ${seq}`): void {
  journal.append(seq, 1000 + seq, topic, encoder.encode(frame));
}

describe("Journal", () => {
  test("keeps frames in order, chained per topic, and drops the oldest first", () => {
    const journal = new Journal();
    for (let seq = 1; seq <= 6; seq++) add(journal, seq, seq % 2);
    expect(journal.size).toBe(6);
    expect(chainOf(journal, 0)).toEqual(["frame 6", "frame 4", "frame 2"]);
    expect(chainOf(journal, 1)).toEqual(["frame 5", "frame 3", "frame 1"]);
    const oldest = journal.oldest();
    expect([journal.seqOf(oldest), journal.timeOf(oldest), journal.topicOf(oldest)]).toEqual([1, 1001, 1]);
    journal.dropOldest();
    expect(chainOf(journal, 1)).toEqual(["frame 5", "frame 3"]);
    expect(journal.countOf(1)).toBe(2);
    expect(journal.frameBytes).toBe(5 * "frame n".length);
  });

  test("a topic's oldest dropped out of order stays behind dead, skipped by oldest() and by its chain", () => {
    const journal = new Journal();
    for (let seq = 1; seq <= 4; seq++) add(journal, seq, seq <= 2 ? 0 : 1);
    expect(journal.dropOldestOf(1)).toBe(3);
    expect(journal.isDead(2)).toBe(true); // slot 2 held seq 3
    expect(chainOf(journal, 1)).toEqual(["frame 4"]);
    expect(journal.size).toBe(3);
    journal.dropOldest(); // seq 1
    journal.dropOldest(); // seq 2
    // The dead slot is let go on the way to the next live one.
    expect(journal.seqOf(journal.oldest())).toBe(4);
    journal.dropOldest();
    expect(journal.oldest()).toBe(NONE);
    expect(journal.size).toBe(0);
    expect(journal.countOf(0) + journal.countOf(1)).toBe(0);
  });

  test("firstAfter finds the first slot past a seq, dead slots and gaps in numbering included", () => {
    const journal = new Journal();
    for (const seq of [2, 3, 5, 8, 13]) add(journal, seq, seq === 5 ? 1 : 0);
    journal.dropOldestOf(1);
    expect([0, 2, 4, 5, 7, 8, 12, 13].map((seq) => journal.firstAfter(seq))).toEqual([0, 1, 2, 3, 3, 4, 4, 5]);
  });

  test("grows past its first capacity and compacts away the dead, keeping every live frame and chain", () => {
    const journal = new Journal();
    const live = new Map<number, number[]>(); // topic -> live seqs, oldest first
    let seed = 11;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (let seq = 1; seq <= 50_000; seq++) {
      const topic = Math.floor(random() * random() * 40);
      add(journal, seq, topic, `${seq}:${"x".repeat(seq % 300)}`);
      const seqs = live.get(topic) ?? [];
      seqs.push(seq);
      live.set(topic, seqs);
      if (seqs.length > 30) expect(journal.dropOldestOf(topic)).toBe(seqs.shift()!); // compacts now and then
    }
    const all = [...live.values()].flat();
    expect(journal.size).toBe(all.length);
    for (const [topic, seqs] of live) {
      expect(chainOf(journal, topic)).toEqual(seqs.map((seq) => `${seq}:${"x".repeat(seq % 300)}`).reverse());
    }
    // What is held stays within about twice what is live: dead bytes are compacted away.
    expect(journal.chunkBytes).toBeLessThan(2 * journal.frameBytes + 2 * 256 * 1024);
    // In seq order from the oldest, dead ones skipped: every live seq once.
    const order: number[] = [];
    for (let slot = journal.firstAfter(0); slot < journal.end; slot++) if (!journal.isDead(slot)) order.push(journal.seqOf(slot));
    expect(order).toEqual(all.sort((a, b) => a - b));
  });

  test("a frame bigger than a chunk gets a chunk of its own; chunks are let go as the oldest moves on", () => {
    const journal = new Journal();
    const big = "b".repeat(300 * 1024);
    add(journal, 1, 0, "small");
    add(journal, 2, 0, big);
    add(journal, 3, 0, "after");
    expect(text(journal.frameOf(1))).toBe(big);
    expect(journal.chunkBytes).toBe(2 * 256 * 1024 + big.length);
    journal.oldest();
    journal.dropOldest();
    journal.oldest();
    journal.dropOldest();
    journal.oldest();
    expect(journal.chunkBytes).toBe(256 * 1024); // only the chunk holding "after"
    expect(text(journal.frameOf(journal.oldest()))).toBe("after");
    journal.dropOldest();
    add(journal, 4, 0, "again"); // nothing held: the same chunk is written from its start
    expect(journal.chunkBytes).toBe(256 * 1024);
    expect(chainOf(journal, 0)).toEqual(["again"]);
  });

  test("a chunk made for one big frame is let go once nothing is held", () => {
    const journal = new Journal();
    add(journal, 1, 0, "b".repeat(1024 * 1024));
    journal.oldest();
    journal.dropOldest();
    expect(journal.chunkBytes).toBe(0);
    add(journal, 2, 0, "small");
    expect(journal.chunkBytes).toBe(256 * 1024);
  });

  test("a reservation not kept leaves no empty chunk behind when a bigger one follows", () => {
    const journal = new Journal();
    add(journal, 1, 0, "x".repeat(200 * 1024));
    journal.reserve(100 * 1024); // no room left: a new chunk, then not committed (say, the frame was not ASCII)
    const frame = "y".repeat(300 * 1024);
    add(journal, 2, 0, frame);
    expect(journal.chunkBytes).toBe(256 * 1024 + frame.length);
    expect(chainOf(journal, 0)).toEqual([frame, "x".repeat(200 * 1024)]);
  });

  test("frames written in place with reserve and commit", () => {
    const journal = new Journal();
    const frame = encoder.encode("in place");
    journal.reserve(64).set(frame, journal.writeOffset);
    journal.commit(7, 0, 3, frame.length);
    expect(chainOf(journal, 3)).toEqual(["in place"]);
    expect(journal.frameBytes).toBe(frame.length);
  });
});

import { describe, expect, test } from "bun:test";
import { ByteReader } from "../../src/http1/reader.ts";
import { FakeConn } from "../helpers/byte-conn.ts";

describe("ByteReader", () => {
  test("take moves a position: the rest is not copied", async () => {
    const conn = new FakeConn();
    const reader = new ByteReader(conn);
    conn.send("abcdef");
    await reader.more(16);
    const before = reader.buffered;
    expect(new TextDecoder().decode(reader.take(2))).toBe("ab");
    expect(reader.buffered.buffer).toBe(before.buffer);
    expect(new TextDecoder().decode(reader.buffered)).toBe("cdef");
  });

  test("a byte-at-a-time sender makes the buffer grow by doubling, not once per read", async () => {
    const conn = new FakeConn();
    const reader = new ByteReader(conn);
    let reallocations = 0;
    let last: ArrayBufferLike | undefined;
    for (let i = 0; i < 10_000; i++) {
      conn.send("x");
      await reader.more(Math.min(16 * 1024, Math.max(1024, reader.bufferedLength)));
      if (reader.buffered.buffer !== last) reallocations++;
      last = reader.buffered.buffer;
    }
    expect(reader.bufferedLength).toBe(10_000);
    expect(reallocations).toBeLessThan(10);
  });

  test("once drained, the buffer is let go; a read in flight joins, an end is sticky", async () => {
    const conn = new FakeConn();
    const reader = new ByteReader(conn);
    conn.send("hi");
    await reader.more(1024);
    reader.take(2);
    expect(reader.buffered.buffer.byteLength).toBe(0);
    const first = reader.more(64);
    expect(reader.more(64)).toBe(first);
    conn.end();
    expect(await first).toBe(false);
    expect(await reader.more(64)).toBe(false);
    expect(reader.ended).toBe(true);
  });
});

import { describe, expect, test } from "bun:test";
import { encodeChunk, LAST_CHUNK } from "../../src/listen/chunked.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (s: string) => new TextEncoder().encode(s);

describe("encodeChunk", () => {
  test("frames the bytes as one chunk: hex size, CRLF, bytes, CRLF", () => {
    expect(text(encodeChunk(bytes("data: hi\n\n")))).toBe("a\r\ndata: hi\n\n\r\n");
    expect(text(encodeChunk(bytes("x".repeat(300))))).toBe(`12c\r\n${"x".repeat(300)}\r\n`);
    expect([...encodeChunk(new Uint8Array([0, 0xff]))]).toEqual([0x32, 13, 10, 0, 0xff, 13, 10]);
  });

  test("a chunk is built once per frame and shared by its subscribers", () => {
    const frame = bytes("event: e\ndata: d\n\n");
    expect(encodeChunk(frame)).toBe(encodeChunk(frame));
    // An equal frame that is another array gets its own chunk (the cache is by identity).
    expect(encodeChunk(bytes("event: e\ndata: d\n\n"))).not.toBe(encodeChunk(frame));
    expect(text(encodeChunk(bytes("event: e\ndata: d\n\n")))).toBe(text(encodeChunk(frame)));
  });

  test("the last chunk ends the body without trailers", () => {
    expect(text(LAST_CHUNK)).toBe("0\r\n\r\n");
  });
});

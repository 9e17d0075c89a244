import { describe, expect, test } from "bun:test";
import { encodeComment, encodeEvent, encodeOpenFrame, HEARTBEAT_FRAME, OPEN_FRAME } from "../src/sse.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("encodeEvent", () => {
  test("named event with one data line", () => {
    expect(text(encodeEvent("update", "hello"))).toBe("event: update\ndata: hello\n\n");
  });

  test("empty name is omitted, so the browser dispatches `message`", () => {
    expect(text(encodeEvent("", "x"))).toBe("data: x\n\n");
  });

  test("empty data still yields one data line, so the event is dispatched", () => {
    expect(text(encodeEvent("ping", ""))).toBe("event: ping\ndata: \n\n");
  });

  test("data is split on CRLF, CR and LF, one data line each", () => {
    expect(text(encodeEvent("", "a\r\nb\rc\nd"))).toBe("data: a\ndata: b\ndata: c\ndata: d\n\n");
  });

  test("a lone CR or a lone LF splits too", () => {
    expect(text(encodeEvent("", "a\rb"))).toBe("data: a\ndata: b\n\n");
    expect(text(encodeEvent("", "a\nb"))).toBe("data: a\ndata: b\n\n");
    expect(text(encodeEvent("", "\r"))).toBe("data: \ndata: \n\n");
  });

  test("trailing and consecutive line breaks keep their empty lines", () => {
    expect(text(encodeEvent("", "a\n\n"))).toBe("data: a\ndata: \ndata: \n\n");
  });

  test("leading spaces and colons in data survive (one space is the separator)", () => {
    expect(text(encodeEvent("", " x: y"))).toBe("data:  x: y\n\n");
  });

  test("a frame is the UTF-8 TextEncoder gives, ASCII or not (lone surrogates replaced)", () => {
    for (const data of ["plain ascii", "é", "✓ and 😀", "lone \ud800 surrogate", "\udc00", "x".repeat(5000) + "é"]) {
      const frame = encodeEvent("e", data);
      expect(frame).toEqual(new TextEncoder().encode(`event: e\ndata: ${data}\n\n`));
      expect(frame.buffer.byteLength).toBe(frame.length); // nothing kept beyond the frame
    }
  });

  test("unicode is UTF-8", () => {
    expect(encodeEvent("", "é✓😀")).toEqual(new TextEncoder().encode("data: é✓😀\n\n"));
  });
});

describe("comments", () => {
  test("are lines starting with a colon, ended by a blank line", () => {
    expect(text(encodeComment("hi"))).toBe(": hi\n\n");
    expect(text(OPEN_FRAME).startsWith(":")).toBe(true);
    expect(text(HEARTBEAT_FRAME)).toBe(": \n\n");
  });
});

describe("encodeOpenFrame", () => {
  test("a comment and the id to resume from; streams opened at the same id share one frame", () => {
    const first = encodeOpenFrame("5-2");
    expect(text(first)).toBe(": ok\nid: 5-2\n\n");
    expect(encodeOpenFrame("5-2")).toBe(first);
    expect(text(encodeOpenFrame("5-3"))).toBe(": ok\nid: 5-3\n\n");
    expect(text(encodeOpenFrame("5-2"))).toBe(": ok\nid: 5-2\n\n");
  });
});

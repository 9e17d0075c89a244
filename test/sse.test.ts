import { describe, expect, test } from "bun:test";
import { asciiFrameBound, encodeComment, encodeEvent, encodeOpenFrame, HEARTBEAT_FRAME, OPEN_FRAME, writeAsciiFrame } from "../src/sse.ts";

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

describe("writeAsciiFrame", () => {
  /** What writeAsciiFrame writes within its bound, or -1; the bytes past the bound are checked untouched. */
  function written(idPrefix: string, seq: number, event: string, data: string): Uint8Array | -1 {
    const bound = asciiFrameBound(idPrefix, event, data);
    const target = new Uint8Array(3 + bound + 8).fill(0xee);
    const length = writeAsciiFrame(target, 3, idPrefix, seq, event, data);
    expect(target.subarray(3 + bound).every((b) => b === 0xee)).toBe(true);
    return length < 0 ? -1 : target.slice(3, 3 + length);
  }

  test("writes exactly encodeEvent's bytes for an ASCII event on one line, whatever the position", () => {
    let seed = 5;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const ascii = (max: number) => Array.from({ length: Math.floor(random() * max) }, () => String.fromCharCode(32 + Math.floor(random() * 95))).join("");
    const seqs = [0, 1, 35, 36, 1295, 1296, 2 ** 31, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER];
    for (let i = 0; i < 2000; i++) {
      const seq = i < seqs.length ? seqs[i]! : Math.floor(random() * 2 ** (1 + Math.floor(random() * 52)));
      const event = random() < 0.3 ? "" : ascii(12);
      const data = ascii(200);
      expect(written("k3x9-", seq, event, data)).toEqual(encodeEvent(event, data, `k3x9-${seq.toString(36)}`));
    }
  });

  test("declines (-1) what encodeEvent must frame: non-ASCII, and line breaks in data or name", () => {
    const long = "x".repeat(60); // past the length where TextEncoder writes the line
    const declined = [["", "é"], ["", "a\nb"], ["", "a\rb"], ["", "a\r\nb"], ["n\n", "x"], ["ü", "x"], ["", "\u{1f389}"], ["", "\x7f\x80"]];
    declined.push(["", long + "é"], ["", "é" + long], ["", long + "\n"], ["", "\r" + long], ["", long + "\ud800"], ["", long + "\u{1f389}"]);
    for (const [event, data] of declined) {
      expect(written("e-", 1, event!, data!)).toBe(-1);
    }
    expect(written("e-", 1, "", "\x7f")).toEqual(encodeEvent("", "\x7f", "e-1")); // DEL is ASCII
  });
});

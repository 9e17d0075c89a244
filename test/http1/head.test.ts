import { describe, expect, test } from "bun:test";
import { findHeadEnd, HttpError, parseRequestHead } from "../../src/http1/head.ts";

const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const parse = (text: string) => parseRequestHead(bytes(text));
const statusOf = (text: string): number => {
  try {
    parse(text);
  } catch (error) {
    if (error instanceof HttpError) return error.status;
    throw error;
  }
  return 0;
};

describe("findHeadEnd", () => {
  test("finds the empty line after CRLF or LF lines, and nothing before it", () => {
    const head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    expect(findHeadEnd(bytes(head))).toBe(head.length);
    expect(findHeadEnd(bytes(`${head}POST`))).toBe(head.length);
    expect(findHeadEnd(bytes("GET / HTTP/1.1\nHost: a\n\n"))).toBe(24);
    expect(findHeadEnd(bytes("GET / HTTP/1.1\r\nHost: a\r\n"))).toBe(-1);
    expect(findHeadEnd(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r"))).toBe(-1);
  });

  test("resuming from an earlier position finds the same end", () => {
    const head = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    expect(findHeadEnd(head, head.length - 3)).toBe(head.length);
  });
});

describe("parseRequestHead", () => {
  test("reads method, URL from Host and target, headers, keep-alive", () => {
    const head = parse("GET /events?token=x HTTP/1.1\r\nHost: example.com:8000\r\nLast-Event-ID:  7-1 \r\n\r\n");
    expect(head.method).toBe("GET");
    expect(head.url).toBe("http://example.com:8000/events?token=x");
    expect(head.headers.get("last-event-id")).toBe("7-1");
    expect(head.http11).toBe(true);
    expect(head.keepAlive).toBe(true);
    expect(head.body).toEqual({ kind: "none" });
    expect(head.expectContinue).toBe(false);
  });

  test("a target starting with // stays a path on the Host, never another host", () => {
    expect(parse("GET //evil.example/x HTTP/1.1\r\nHost: a\r\n\r\n").url).toBe("http://a//evil.example/x");
  });

  test("absolute-form targets are taken as they are", () => {
    expect(parse("GET http://b.example/ping HTTP/1.1\r\nHost: a\r\n\r\n").url).toBe("http://b.example/ping");
  });

  test("empty lines before the request line are skipped", () => {
    expect(parse("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").method).toBe("GET");
  });

  test("Connection: close and HTTP/1.0 end keep-alive; HTTP/1.0 needs no Host", () => {
    expect(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keepAlive).toBe(false);
    expect(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n").keepAlive).toBe(false);
    const old = parse("GET /ping HTTP/1.0\r\n\r\n");
    expect(old.http11).toBe(false);
    expect(old.keepAlive).toBe(false);
    expect(old.url).toBe("http://localhost/ping");
  });

  test("body framing: Content-Length, chunked, repeated equal lengths, zero", () => {
    expect(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n").body).toEqual({ kind: "length", length: 12 });
    expect(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n").body).toEqual({ kind: "chunked" });
    expect(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n").body).toEqual({
      kind: "length",
      length: 5,
    });
    expect(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").body).toEqual({ kind: "none" });
  });

  test("Expect: 100-continue is noticed", () => {
    expect(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 100-Continue\r\n\r\n").expectContinue).toBe(true);
  });

  test("refuses what could be framed two ways or not read at all: 400", () => {
    for (const head of [
      "GET /\r\nHost: a\r\n\r\n", // no version
      "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
      "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n", // HTTP/1.1 without Host
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
      "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX A: 1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u0000b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u0001b\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999\r\n\r\n",
      // Only SP and HTAB are whitespace: what a lenient parser strips must not pass.
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \u000bchunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\u00a0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \u000c3\r\n\r\n",
    ])
      expect([head, statusOf(head)]).toEqual([head, 400]);
  });

  test("spaces and tabs around values are not part of them", () => {
    expect(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \t 7 \t\r\n\r\n").body).toEqual({ kind: "length", length: 7 });
    expect(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  chunked\t\r\n\r\n").body).toEqual({ kind: "chunked" });
  });

  test("an unknown transfer coding: 501", () => {
    expect(statusOf("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")).toBe(501);
  });
});

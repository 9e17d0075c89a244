/**
 * HTTP/1.1 as clients and proxies speak it, over raw sockets, on every runtime's own
 * server: keep-alive, pipelining, chunked request bodies, `Expect: 100-continue`, and
 * garbage that must not hurt the server (test/blackbox/hostile-http.test.ts has the rest).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connectRaw, statusCodes } from "../helpers/raw-http.ts";
import { eventsUrl, expectHealthy, postSubmit, SERVERS, startServer, type RunningServer } from "../helpers/server.ts";
import { openStream } from "../helpers/sse.ts";
import { submitToken, subscribeToken } from "../helpers/tokens.ts";

const count = (text: string, part: string) => text.split(part).length - 1;

/** What follows a response's head. */
const bodyOf = (received: string): string => received.slice(received.indexOf("\r\n\r\n") + 4);

/** A chunked body's content; fails on a chunk whose size line or CRLF is wrong. */
function decodeChunks(body: string): string {
  let decoded = "";
  let at = 0;
  while (at < body.length) {
    const lineEnd = body.indexOf("\r\n", at);
    const size = Number.parseInt(body.slice(at, lineEnd), 16);
    expect(body.slice(at, lineEnd)).toMatch(/^[0-9a-f]+$/i);
    decoded += body.slice(lineEnd + 2, lineEnd + 2 + size);
    expect(body.slice(lineEnd + 2 + size, lineEnd + 4 + size)).toBe("\r\n");
    at = lineEnd + 4 + size;
  }
  return decoded;
}

for (const runtime of SERVERS) {
  describe(`${runtime}: HTTP/1.1`, () => {
    let server: RunningServer;
    beforeAll(async () => void (server = await startServer(runtime, { env: { SSE_HEARTBEAT: "3600" } })));
    afterAll(() => server.stop());
    const openStreams = async (): Promise<number> => {
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      return Number(/^sse_open_streams (\d+)$/m.exec(metrics)?.[1]);
    };

    test("keep-alive: requests one after another on one connection", async () => {
      const socket = await connectRaw(server.port);
      for (let i = 1; i <= 3; i++) {
        socket.send(`GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        await socket.until((r) => count(r, "pong") === i);
      }
      socket.close();
    });

    test("pipelined requests, one with a chunked body, are answered in order", async () => {
      const stream = await openStream(eventsUrl(server, subscribeToken(["pipe"])));
      const token = submitToken([{ topic: "pipe", event: "e", data: "piped" }]);
      const half = Math.floor(token.length / 2);
      const chunked = `${half.toString(16)}\r\n${token.slice(0, half)}\r\n${(token.length - half).toString(16)}\r\n${token.slice(half)}\r\n0\r\n\r\n`;
      const socket = await connectRaw(server.port);
      socket.send(
        "GET /ping HTTP/1.1\r\nHost: a\r\n\r\n" +
          `POST /submit HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}` +
          "GET /health/live HTTP/1.1\r\nHost: a\r\n\r\n",
      );
      const received = await socket.until((r) => statusCodes(r).length === 3 && r.endsWith(r.includes("chunked") ? "0\r\n\r\n" : "live"));
      expect(statusCodes(received)).toEqual([200, 200, 200]);
      expect(received.indexOf("pong")).toBeLessThan(received.lastIndexOf("live"));
      expect((await stream.next(1))[0]!.data).toBe("piped");
      stream.close();
      socket.close();
    });

    test("Expect: 100-continue: the body is sent after `100 Continue` and delivered", async () => {
      const stream = await openStream(eventsUrl(server, subscribeToken(["cont"])));
      const token = submitToken([{ topic: "cont", event: "e", data: "continued" }]);
      const socket = await connectRaw(server.port);
      socket.send(`POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: ${token.length}\r\nExpect: 100-continue\r\n\r\n`);
      await socket.until((r) => statusCodes(r).includes(100));
      socket.send(token);
      const received = await socket.until((r) => statusCodes(r).length === 2);
      expect(statusCodes(received)).toEqual([100, 200]);
      expect((await stream.next(1))[0]!.data).toBe("continued");
      stream.close();
      socket.close();
    });

    test("a stream's response is chunked, so a proxy can keep the connection", async () => {
      const socket = await connectRaw(server.port);
      socket.send(`GET /events?token=${subscribeToken(["chunk"])} HTTP/1.1\r\nHost: a\r\n\r\n`);
      const received = await socket.until((r) => r.includes(": ok"));
      expect(received.toLowerCase()).toContain("transfer-encoding: chunked\r\n");
      expect(received.toLowerCase()).toContain("content-type: text/event-stream");
      socket.close();
    });

    test("events on a raw stream: well-formed chunks on HTTP/1.1, the same bytes unframed on HTTP/1.0", async () => {
      const path = `/events?token=${subscribeToken(["framing"])}`;
      const [http11, http10] = await Promise.all([connectRaw(server.port), connectRaw(server.port)]);
      http11.send(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
      http10.send(`GET ${path} HTTP/1.0\r\nHost: a\r\n\r\n`);
      await Promise.all([http11.until((r) => r.includes(": ok")), http10.until((r) => r.includes(": ok"))]);
      const token = submitToken([
        { topic: "framing", event: "a", data: "first" },
        { topic: "framing", event: "b", data: "x".repeat(300) },
      ]);
      expect((await postSubmit(server, token)).status).toBe(200);
      const [chunked, plain] = await Promise.all([
        http11.until((r) => r.includes("x".repeat(300))),
        http10.until((r) => r.includes("x".repeat(300))),
      ]);
      // Each stream draws its own reconnection delay; all else is the same bytes.
      const sameRetry = (body: string) => body.replace(/^retry: \d+$/m, "retry: N");
      const body10 = sameRetry(bodyOf(plain));
      expect(body10).toContain("event: a\ndata: first\n");
      expect(sameRetry(decodeChunks(bodyOf(chunked)))).toBe(body10);
      expect(plain.slice(0, plain.indexOf("\r\n\r\n")).toLowerCase()).not.toContain("transfer-encoding");
      http11.close();
      http10.close();
    });

    test("HEAD of a stream: its head, no body, the connection goes on, and no stream is opened", async () => {
      const socket = await connectRaw(server.port);
      socket.send(`HEAD /events?token=${subscribeToken(["head"])} HTTP/1.1\r\nHost: a\r\n\r\n`);
      const head = await socket.until((r) => r.includes("\r\n\r\n"));
      expect(statusCodes(head)).toEqual([200]);
      expect(head.toLowerCase()).toContain("content-type: text/event-stream");
      socket.send("GET /ping HTTP/1.1\r\nHost: a\r\n\r\n");
      const both = await socket.until((r) => r.includes("pong"));
      expect(statusCodes(both)).toEqual([200, 200]);
      expect(both).not.toContain(": ok");
      // Checked while the connection is open: no stream may sit waiting for its close.
      const deadline = Date.now() + 2000;
      while ((await openStreams()) !== 0 && Date.now() < deadline) await Bun.sleep(50);
      expect(await openStreams()).toBe(0);
      socket.close();
    });

    test("garbage, oversized and truncated requests get a 4xx (or 505) or a close, and the server goes on", async () => {
      for (const garbage of [
        "HELLO\r\n\r\n",
        "GET / HTTP/9.9\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello",
        `GET /${"x".repeat(100_000)} HTTP/1.1\r\nHost: a\r\n\r\n`,
        "POST /submit HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "\u0000\u0001\u0002\r\n\r\n",
      ]) {
        const socket = await connectRaw(server.port);
        socket.send(garbage);
        // Either an error status, or the connection is closed without one.
        let closed = false;
        void socket.closed.then(() => (closed = true));
        await Promise.race([socket.until((r) => statusCodes(r).length > 0, 5000).catch(() => ""), socket.closed]);
        const codes = statusCodes(await socket.until(() => true).catch(() => ""));
        expect([garbage.slice(0, 16), codes.length > 0 || closed]).toEqual([garbage.slice(0, 16), true]);
        // 505 (HTTP Version Not Supported) is a fair answer to HTTP/9.9 too.
        const answer = (code: number) => ((code >= 400 && code < 500) || code === 505 ? "4xx" : String(code));
        expect([garbage.slice(0, 16), codes.map(answer)]).toEqual([garbage.slice(0, 16), codes.map(() => "4xx")]);
        socket.close();
      }
      await expectHealthy(server);
    });

    // hyper (under Deno.serve) answers 400; Bun and Node 431.
    test("a request head over the limit is refused with 431 (400 from Deno.serve)", async () => {
      const socket = await connectRaw(server.port);
      socket.send(`GET /ping?${"x".repeat(100_000)} HTTP/1.1\r\nHost: a\r\n\r\n`);
      const received = await socket.until((r) => statusCodes(r).length > 0);
      expect(statusCodes(received)).toEqual([runtime === "deno" ? 400 : 431]);
      socket.close();
    });
  });
}

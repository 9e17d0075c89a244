import { describe, expect, test } from "bun:test";
import { Connection, type ConnectionOptions, type Fetch } from "../../src/http1/connection.ts";
import { encodeChunk } from "../../src/http1/response.ts";
import { DEFAULT_HTTP1_LIMITS, Http1Server } from "../../src/http1/server.ts";
import type { ByteConn } from "../../src/http1/reader.ts";
import { eventStreamResponse, SubscriberStream, type EndReason } from "../../src/stream.ts";
import { FakeConn, statusLines } from "../helpers/byte-conn.ts";

const encoder = new TextEncoder();
const options: ConnectionOptions = { ...DEFAULT_HTTP1_LIMITS, onAppError: () => {} };

/** An app that answers `<method> <path> <body>` as text, reading any body. */
const echo: Fetch = async (request) => {
  const body = request.body ? await request.text() : "";
  return new Response(`${request.method} ${new URL(request.url).pathname} ${body}`);
};

function serve(fetch: Fetch, overrides: Partial<typeof options> = {}) {
  const conn = new FakeConn();
  const served = new Connection(conn, fetch, { ...options, ...overrides }).serve();
  return { conn, served };
}

/** Serves a stream the test feeds: requested and its opening frame received. */
async function openStreaming() {
  const stream = controlledStream();
  const served = serve(() => new Response(stream.body));
  served.conn.send("GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
  stream.push(": ok\n\n");
  await served.conn.waitFor((o) => o.includes(": ok"));
  return { stream, ...served };
}

/** A body the test feeds frame by frame, and whether the server cancelled it. */
function controlledStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const state = { cancelled: false };
  const body = new ReadableStream<Uint8Array>(
    { start: (c) => void (controller = c), cancel: () => void (state.cancelled = true) },
    { highWaterMark: 0 },
  );
  return { body, push: (text: string) => controller.enqueue(encoder.encode(text)), controller, state };
}

describe("HTTP/1.1 connection", () => {
  test("keep-alive: two requests in turn on one connection, chunked answers", async () => {
    const { conn } = serve(echo);
    conn.send("GET /one HTTP/1.1\r\nHost: a\r\n\r\n");
    await conn.waitFor((out) => out.includes("0\r\n\r\n"));
    conn.send("GET /two HTTP/1.1\r\nHost: a\r\n\r\n");
    const out = await conn.waitFor((o) => o.split("0\r\n\r\n").length === 3);
    expect(statusLines(out)).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
    expect(out).toContain("transfer-encoding: chunked\r\n");
    expect(out).toContain("\r\n9\r\nGET /one \r\n0\r\n\r\n");
    expect(out).toContain("\r\n9\r\nGET /two \r\n0\r\n\r\n");
    expect(out).toMatch(/\r\ndate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
    expect(conn.closed).toBe(false);
  });

  test("pipelined requests in one packet are answered in order", async () => {
    const { conn } = serve(echo);
    conn.send("GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyzGET /c HTTP/1.1\r\nHost: a\r\n\r\n");
    const out = await conn.waitFor((o) => o.includes("GET /c"));
    expect(out.indexOf("GET /a ")).toBeLessThan(out.indexOf("POST /b xyz"));
    expect(out.indexOf("POST /b xyz")).toBeLessThan(out.indexOf("GET /c "));
  });

  test("a Content-Length body split over many reads arrives whole", async () => {
    const { conn } = serve(echo);
    conn.send("POST /s HTTP/1.1\r\nHost: a\r\nContent-Len");
    conn.send("gth: 10\r\n\r\n01234");
    await Bun.sleep(5);
    conn.send("56789");
    expect(await conn.waitFor((o) => o.includes("0123456789"))).toContain("POST /s 0123456789");
  });

  test("a chunked body with extensions and trailers is decoded, then the next request is read", async () => {
    const { conn } = serve(echo);
    conn.send("POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n");
    conn.send("6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    const out = await conn.waitFor((o) => o.includes("GET /next"));
    expect(out).toContain("POST /s hello world");
  });

  test("a malformed chunked body fails the app's read and closes the connection", async () => {
    let failed = false;
    const { conn, served } = serve(async (request) => {
      try {
        await request.text();
      } catch {
        failed = true;
      }
      return new Response("read failed", { status: 400 });
    });
    conn.send("POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
    await served;
    expect(failed).toBe(true);
    expect(conn.output).toStartWith("HTTP/1.1 400 Bad Request\r\n");
    expect(conn.closed).toBe(true);
  });

  test("Expect: 100-continue gets `100 Continue` only when the app reads the body", async () => {
    const { conn } = serve(echo);
    conn.send("POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    await conn.waitFor((o) => o.includes("100 Continue"));
    conn.send("ok");
    const out = await conn.waitFor((o) => o.includes("POST /s ok"));
    expect(statusLines(out)).toEqual(["HTTP/1.1 100 Continue", "HTTP/1.1 200 OK"]);

    const refused = serve(() => new Response("too large", { status: 413 }));
    refused.conn.send("POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 99\r\nExpect: 100-continue\r\n\r\n");
    await refused.served;
    expect(statusLines(refused.conn.output)).toEqual(["HTTP/1.1 413 Content Too Large"]);
  });

  test("a request body the app left unread closes the connection after the answer", async () => {
    const { conn, served } = serve(() => new Response("no", { status: 401 }));
    conn.send("POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    await served;
    expect(statusLines(conn.output)).toEqual(["HTTP/1.1 401 Unauthorized"]);
    expect(conn.output).toContain("connection: close\r\n");
  });

  test("a streamed body goes out frame by frame; a frame shared by streams is framed once", async () => {
    const stream = controlledStream();
    const { conn } = serve(() => new Response(stream.body, { headers: { "content-type": "text/event-stream" } }));
    conn.send("GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
    stream.push(": ok\n\n");
    await conn.waitFor((o) => o.endsWith("6\r\n: ok\n\n\r\n"));
    stream.push("data: 1\n\n");
    await conn.waitFor((o) => o.endsWith("9\r\ndata: 1\n\n\r\n"));
    stream.controller.close();
    await conn.waitFor((o) => o.endsWith("0\r\n\r\n"));
    const frame = encoder.encode("data: x\n\n");
    expect(encodeChunk(frame)).toBe(encodeChunk(frame));
  });

  test("an ordinary streamed body waits for each write and keeps its order; an empty chunk does not end it", async () => {
    const { stream, conn } = await openStreaming();
    conn.stallWrites = true;
    stream.push("data: 1\n\n"); // taken at once; its write stalls
    await Bun.sleep(5);
    stream.controller.enqueue(new Uint8Array(0));
    for (const n of [2, 3]) stream.push(`data: ${n}\n\n`);
    conn.releaseWrites();
    await conn.waitFor((o) => o.includes("data: 3"));
    expect(conn.writes.slice(-3)).toEqual(["9\r\ndata: 1\n\n\r\n", "9\r\ndata: 2\n\n\r\n", "9\r\ndata: 3\n\n\r\n"]);
    expect(conn.output).not.toContain("0\r\n\r\n");
  });

  test("the client's close cancels a streaming body at once", async () => {
    const { stream, conn, served } = await openStreaming();
    conn.end();
    await served;
    expect(stream.state.cancelled).toBe(true);
    expect(conn.closed).toBe(true);
    // Cut off, not complete: no last chunk that would make it look like a clean end.
    expect(conn.output).not.toContain("0\r\n\r\n");
  });

  test("a body that errors while a write is stuck (a client reading nothing) still drops the connection", async () => {
    const { stream, conn, served } = await openStreaming();
    conn.stallWrites = true;
    stream.push("data: stuck\n\n");
    await Bun.sleep(5);
    expect(conn.closed).toBe(false);
    stream.controller.error(new Error("subscriber too slow"));
    await served;
    expect(conn.closed).toBe(true);
  });

  test("a client that sends more than a head's worth while streaming is dropped", async () => {
    const stream = controlledStream();
    const conn = new FakeConn();
    const served = new Connection(conn, () => new Response(stream.body), { ...options, maxHeadBytes: 100 }).serve();
    conn.send("GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
    stream.push(": ok\n\n");
    await conn.waitFor((o) => o.includes(": ok"));
    for (let i = 0; i < 5; i++) conn.send("x".repeat(50));
    await served;
    expect(stream.state.cancelled).toBe(true);
  });

  test("a failed write cancels the body and closes the connection", async () => {
    const { stream, conn, served } = await openStreaming();
    conn.failWrites = true;
    stream.push("data: lost\n\n");
    await served;
    expect(stream.state.cancelled).toBe(true);
    expect(conn.closed).toBe(true);
  });

  test("a body that errors ends the connection without a last chunk", async () => {
    const { stream, conn, served } = await openStreaming();
    stream.controller.error(new Error("subscriber too slow"));
    await served;
    expect(conn.output).not.toContain("0\r\n\r\n");
    expect(conn.closed).toBe(true);
  });

  test("HEAD and 204 carry no body; the body is cancelled, the connection stays", async () => {
    const stream = controlledStream();
    const { conn } = serve((request) =>
      request.method === "HEAD" ? new Response(stream.body, { headers: { "content-length": "4" } }) : new Response(null, { status: 204 }),
    );
    conn.send("HEAD /events HTTP/1.1\r\nHost: a\r\n\r\nDELETE /x HTTP/1.1\r\nHost: a\r\n\r\n");
    const out = await conn.waitFor((o) => o.includes("204 No Content"));
    await Bun.sleep(5);
    expect(stream.state.cancelled).toBe(true);
    expect(out).toContain("content-length: 4\r\n");
    expect(out.endsWith("\r\n\r\n")).toBe(true);
    expect(out).not.toContain("transfer-encoding");
    expect(conn.closed).toBe(false);
  });

  test("HTTP/1.0: no chunked coding, the body ends with the connection", async () => {
    const { conn, served } = serve(echo);
    conn.send("GET /old HTTP/1.0\r\n\r\n");
    await served;
    expect(conn.output).toStartWith("HTTP/1.1 200 OK\r\n");
    expect(conn.output).toContain("connection: close\r\n");
    expect(conn.output).not.toContain("transfer-encoding");
    expect(conn.output.endsWith("\r\n\r\nGET /old ")).toBe(true);
  });

  test("a response with Content-Length is sent as is; one without a body gets length 0", async () => {
    const { conn } = serve((request) =>
      new URL(request.url).pathname === "/fixed"
        ? new Response("four", { headers: { "content-length": "4" } })
        : new Response(null, { status: 404 }),
    );
    conn.send("GET /fixed HTTP/1.1\r\nHost: a\r\n\r\nGET /none HTTP/1.1\r\nHost: a\r\n\r\n");
    const out = await conn.waitFor((o) => o.includes("404 Not Found") && o.endsWith("\r\n\r\n"));
    expect(out).toContain("content-length: 4\r\n\r\nfour");
    expect(out).toContain("content-length: 0\r\n");
  });

  test("malformed heads get 400, oversized ones 431, forbidden methods 501; then the connection closes", async () => {
    for (const [request, status] of [
      ["GET / HTTP/1.1\r\n\r\n", "400 Bad Request"],
      ["BREW /pot HTTP/1.1\r\nHost: a\r\nX: \u0001\r\n\r\n", "400 Bad Request"],
      [`GET /${"a".repeat(2000)} HTTP/1.1\r\nHost: a\r\n\r\n`, "431 Request Header Fields Too Large"],
      [`GET /${"a".repeat(2000)}`, "431 Request Header Fields Too Large"],
      ["CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", "501 Not Implemented"],
      ["TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", "501 Not Implemented"],
    ] as const) {
      const { conn, served } = serve(echo, { maxHeadBytes: 1024 });
      conn.send(request);
      await served;
      expect([request.slice(0, 20), statusLines(conn.output)]).toEqual([request.slice(0, 20), [`HTTP/1.1 ${status}`]]);
      expect(conn.closed).toBe(true);
    }
  });

  test("an app that throws answers 500 and is reported", async () => {
    const errors: unknown[] = [];
    const { conn } = serve(
      () => {
        throw new Error("bug");
      },
      { onAppError: (error) => errors.push(error) },
    );
    conn.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    await conn.waitFor((o) => o.includes("internal error"));
    expect(statusLines(conn.output)).toEqual(["HTTP/1.1 500 Internal Server Error"]);
    expect(errors).toHaveLength(1);
  });

  test("a body that stops arriving is cut off at the request deadline", async () => {
    let readFailed = false;
    const conn = new FakeConn();
    const app: Fetch = async (request) => {
      try {
        await request.text();
      } catch {
        readFailed = true;
      }
      return new Response("late", { status: 400 });
    };
    const source = fakeSource();
    const server = new Http1Server(source, app, { ...options, requestTimeoutMs: 100, onAcceptError: () => {} });
    void server.acceptLoop();
    const client = await source.connect();
    client.send("POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nabc");
    await Bun.sleep(400);
    expect(client.closed).toBe(true);
    expect(readFailed).toBe(true);
    expect(conn.output).toBe("");
    server.closeAll();
  });

  test("thousands of one-byte chunks decode to the whole body", async () => {
    const { conn } = serve(async (request) => {
      const body = await request.text();
      return new Response(`${body.length} ${/^x*$/.test(body)}`);
    });
    conn.send(`POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${"1\r\nx\r\n".repeat(20_000)}0\r\n\r\n`);
    const out = await conn.waitFor((o) => o.includes("0\r\n\r\n"), 10_000);
    expect(out.includes("\r\n20000 true\r\n")).toBe(true);
  });

  test("chunk lines must end in CRLF and carry no control bytes; whitespace before extensions is fine", async () => {
    for (const [chunks, ok] of [
      ["5 ;name=value\r\nhello\r\n0\r\n\r\n", true],
      ["5\nhello\r\n0\r\n\r\n", false],
      ["5\r\nhello\n0\r\n\r\n", false],
      ["5\u000b\r\nhello\r\n0\r\n\r\n", false],
      [" 5\r\nhello\r\n0\r\n\r\n", false],
    ] as const) {
      const { conn, served } = serve(async (request) => {
        try {
          return new Response(`got ${await request.text()}`);
        } catch {
          return new Response("bad body", { status: 400 });
        }
      });
      conn.send(`POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}`);
      const out = await conn.waitFor((o) => o.includes("got hello") || o.includes("bad body"));
      expect([JSON.stringify(chunks), out.includes("got hello")]).toEqual([JSON.stringify(chunks), ok]);
      conn.end();
      await served;
    }
  });

  test("empty lines before a request line are skipped", async () => {
    const { conn } = serve(echo);
    conn.send("\r\n\r\n\nGET /after-blank HTTP/1.1\r\nHost: a\r\n\r\n");
    expect(statusLines(await conn.waitFor((o) => o.includes("GET /after-blank")))).toEqual(["HTTP/1.1 200 OK"]);
  });

  test("a client that closes between requests ends the connection quietly", async () => {
    const { conn, served } = serve(echo);
    conn.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    await conn.waitFor((o) => o.includes("0\r\n\r\n"));
    conn.end();
    await served;
    expect(statusLines(conn.output)).toHaveLength(1);
  });
});

/** A listening socket that hands out the connections a test creates. */
function fakeSource() {
  const waiting: ((conn: ByteConn) => void)[] = [];
  let closed = false;
  return {
    /** A new client connection, once the server is waiting to accept one. */
    async connect(): Promise<FakeConn> {
      while (waiting.length === 0) await Bun.sleep(1);
      const conn = new FakeConn();
      waiting.shift()!(conn);
      return conn;
    },
    accept: () => (closed ? Promise.reject(new Error("closed")) : new Promise<ByteConn>((resolve) => waiting.push(resolve))),
    close: () => void (closed = true),
  };
}

describe("HTTP/1.1 server", () => {
  const start = (fetch: Fetch, requestTimeoutMs = 30_000) => {
    const source = fakeSource();
    const server = new Http1Server(source, fetch, { ...options, requestTimeoutMs, onAcceptError: () => {} });
    void server.acceptLoop();
    return { source, server };
  };

  test("a connection that sends no whole head in time is closed (one sweep, no timer each)", async () => {
    const { source, server } = start(echo, 100);
    const idle = await source.connect();
    const busy = await source.connect();
    busy.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    busy.send("GET / HTTP/1.1\r\nHo");
    await Bun.sleep(400);
    expect(idle.closed).toBe(true);
    expect(busy.closed).toBe(true);
    expect(statusLines(busy.output)).toEqual(["HTTP/1.1 200 OK"]);
    server.closeAll();
  });

  test("stopAccepting closes idle connections now and busy ones after their response", async () => {
    const stream = controlledStream();
    const { source, server } = start((request) => (request.url.endsWith("/events") ? new Response(stream.body) : echo(request)));
    const idle = await source.connect();
    const streaming = await source.connect();
    streaming.send("GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
    stream.push(": ok\n\n");
    await streaming.waitFor((o) => o.includes(": ok"));
    expect(server.connectionCount).toBe(2);

    server.stopAccepting();
    expect(idle.closed).toBe(true);
    expect(streaming.closed).toBe(false);
    stream.push("data: last\n\n");
    stream.controller.close();
    await streaming.waitFor((o) => o.endsWith("0\r\n\r\n"));
    await Bun.sleep(5);
    expect(streaming.closed).toBe(true);
    expect(server.connectionCount).toBe(0);
    server.closeAll();
  });

  test("closeAll drops every connection, streaming or not", async () => {
    const stream = controlledStream();
    const { source, server } = start(() => new Response(stream.body));
    const streaming = await source.connect();
    streaming.send("GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
    stream.push(": ok\n\n");
    await streaming.waitFor((o) => o.includes(": ok"));
    server.closeAll();
    await Bun.sleep(5);
    expect(streaming.closed).toBe(true);
    expect(stream.state.cancelled).toBe(true);
  });

  test("a connection reset before it was accepted is skipped at once, unlogged", async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const source = fakeSource();
    const reset = new Error("NotConnected");
    const flaky = { ...source, accept: () => (++calls <= 50 ? Promise.reject(reset) : source.accept()) };
    const server = new Http1Server(flaky, echo, {
      ...options,
      onAcceptError: (e) => errors.push(e),
      isConnectionError: (e) => e === reset,
    });
    void server.acceptLoop();
    const conn = await source.connect(); // 50 resets with a 100 ms pause each would take 5 s
    conn.send("GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    await conn.waitFor((o) => o.includes("GET /after"));
    expect(errors).toHaveLength(0);
    expect(calls).toBeGreaterThanOrEqual(51);
    server.closeAll();
  }, 2000);

  test("a failed accept is reported and accepting goes on", async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const source = fakeSource();
    const flaky = { ...source, accept: () => (++calls === 1 ? Promise.reject(new Error("EMFILE")) : source.accept()) };
    const server = new Http1Server(flaky, echo, { ...options, onAcceptError: (e) => errors.push(e) });
    void server.acceptLoop();
    const conn = await source.connect();
    conn.send("GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    await conn.waitFor((o) => o.includes("GET /after"));
    expect(errors).toHaveLength(1);
    server.closeAll();
  });
});

/** Serves one subscriber stream (as the app makes it), with its ends recorded. */
function serveSubscriber(request = "GET /events HTTP/1.1\r\nHost: a\r\n\r\n", maxBuffered = 100) {
  const ends: EndReason[] = [];
  const stream = new SubscriberStream(encoder.encode(": ok\n\n"), maxBuffered, (reason) => ends.push(reason));
  const served = serve((request, env) =>
    request.url.endsWith("/events") ? eventStreamResponse(stream, { "content-type": "text/event-stream" }, env) : echo(request),
  );
  served.conn.send(request);
  const push = (text: string) => stream.push(encoder.encode(text));
  return { stream, ends, push, ...served };
}

describe("HTTP/1.1 connection, event streams written as they are pushed", () => {
  test("head and opening go out together, then each frame as a chunk; end sends the last chunk and keeps the connection", async () => {
    const { stream, conn, push } = serveSubscriber();
    await conn.waitFor((o) => o.endsWith("6\r\n: ok\n\n\r\n"));
    expect(conn.writes).toHaveLength(1);
    expect(conn.output).toStartWith("HTTP/1.1 200 OK\r\n");
    expect(conn.output).toContain("transfer-encoding: chunked\r\n");
    await Bun.sleep(1); // the first write has completed
    push("data: 1\n\n");
    expect(conn.writes.at(-1)).toBe("9\r\ndata: 1\n\n\r\n"); // written during the push itself
    stream.end();
    await conn.waitFor((o) => o.endsWith("0\r\n\r\n"));
    conn.send("GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    await conn.waitFor((o) => statusLines(o).length === 2);
    expect(conn.closed).toBe(false);
  });

  test("frames pushed during a stuck write go out together, in order", async () => {
    const { conn, push } = serveSubscriber();
    await conn.waitFor((o) => o.includes(": ok"));
    await Bun.sleep(1);
    conn.stallWrites = true;
    for (const n of [1, 2, 3]) push(`data: ${n}\n\n`);
    conn.releaseWrites();
    await conn.waitFor((o) => o.includes("data: 3"));
    expect(conn.writes.slice(-2)).toEqual(["9\r\ndata: 1\n\n\r\n", "9\r\ndata: 2\n\n\r\n9\r\ndata: 3\n\n\r\n"]);
  });

  test("a long backlog goes out in writes of at most 64 KiB, in order", async () => {
    const { conn, push } = serveSubscriber(undefined, 1000);
    await conn.waitFor((o) => o.includes(": ok"));
    await Bun.sleep(1);
    conn.stallWrites = true;
    const frames = Array.from({ length: 200 }, (_, i) => `data: ${String(i).padStart(3, "0")}${"x".repeat(1000)}\n\n`);
    for (const frame of frames) push(frame);
    const before = conn.writes.length;
    conn.releaseWrites();
    await conn.waitFor((o) => o.includes("data: 199"));
    const writes = conn.writes.slice(before);
    expect(writes.length).toBeGreaterThanOrEqual(4); // 200 KB at most 64 KiB at a time
    for (const write of writes) expect(write.length).toBeLessThanOrEqual(64 * 1024);
    expect(writes.join("")).toBe(frames.map((f) => `${f.length.toString(16)}\r\n${f}\r\n`).join(""));
  });

  test("the client's close ends the stream as the client's, without a last chunk", async () => {
    const { conn, served, ends } = serveSubscriber();
    await conn.waitFor((o) => o.includes(": ok"));
    conn.end();
    await served;
    expect(ends).toEqual(["client"]);
    expect(conn.closed).toBe(true);
    expect(conn.output).not.toContain("0\r\n\r\n");
  });

  test("a client that reads nothing is dropped (slow) once too many frames wait, though its write is stuck", async () => {
    const { conn, served, ends, push } = serveSubscriber(undefined, 3);
    await conn.waitFor((o) => o.includes(": ok"));
    conn.stallWrites = true;
    for (let i = 0; i < 6; i++) push(`data: ${i}\n\n`);
    await served;
    expect(ends).toEqual(["slow"]);
    expect(conn.closed).toBe(true);
  });

  test("a failed write closes the connection and ends the stream", async () => {
    const { conn, served, ends, push } = serveSubscriber();
    await conn.waitFor((o) => o.includes(": ok"));
    conn.failWrites = true;
    push("data: lost\n\n");
    await served;
    expect(conn.closed).toBe(true);
    expect(ends).toEqual(["client"]);
  });

  test("a stream that ended before it could be claimed goes out whole, as a body", async () => {
    const ends: EndReason[] = [];
    const stream = new SubscriberStream(encoder.encode(": ok\n\n"), 100, (reason) => ends.push(reason));
    const { conn, served } = serve((_, env) => {
      const response = eventStreamResponse(stream, { "content-type": "text/event-stream" }, env);
      stream.push(encoder.encode("data: last\n\n"));
      stream.end();
      return response;
    });
    conn.send("GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
    await conn.waitFor((o) => o.endsWith("0\r\n\r\n"));
    expect(conn.output).toContain("transfer-encoding: chunked\r\n");
    expect(conn.output).toContain("6\r\n: ok\n\n\r\nc\r\ndata: last\n\n\r\n0\r\n\r\n");
    expect(ends).toEqual(["server"]);
    conn.end();
    await served;
  });

  test("HTTP/1.0: frames go out as they are, no chunk framing", async () => {
    const { conn, push } = serveSubscriber("GET /events HTTP/1.0\r\n\r\n");
    await conn.waitFor((o) => o.endsWith("\r\n\r\n: ok\n\n"));
    push("data: 1\n\n");
    await conn.waitFor((o) => o.endsWith(": ok\n\ndata: 1\n\n"));
    expect(conn.output).toContain("connection: close\r\n");
    expect(conn.output).not.toContain("transfer-encoding");
  });
});

/**
 * Bad input gets a clear 4xx and changes nothing: 401 for every token problem, 400 for an
 * authentic token with a bad payload, 413 for an oversized body — on every runtime.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encode } from "@msgpack/msgpack";
import {
  eventsUrl,
  expectHealthy,
  postSubmit,
  SERVERS,
  startServer,
  waitForLog,
  type RunningServer,
} from "../helpers/server.ts";
import { openStream } from "../helpers/sse.ts";
import {
  mint,
  OTHER_SECRET_HEX,
  referenceBase62,
  SECRET_HEX,
  seal,
  submitToken,
  subscribeToken,
  tamper,
} from "../helpers/tokens.ts";

const MAX_BODY = 4096;
const now = () => Math.floor(Date.now() / 1000);

/** Every way a token can be wrong, as [description, token]. */
function badTokens(valid: string): [string, string][] {
  return [
    ["empty", ""],
    ["not base62", valid.slice(0, 20) + "+/=" + valid.slice(23)],
    ["non-ASCII", valid.slice(0, 30) + "é" + valid.slice(31)],
    ["wrong version byte", tamper(valid, (b) => void (b[0] = 0xbb))],
    ["too short", referenceBase62.encode(Uint8Array.from([0xba, 1, 2, 3, 4, 5]))],
    ["header only", tamper(valid, (b) => b.subarray(0, 29))],
    ["truncated tag", valid.slice(0, -3)],
    ["altered timestamp", tamper(valid, (b) => void (b[4] ^= 1))],
    ["altered nonce", tamper(valid, (b) => void (b[10] ^= 0x80))],
    ["altered ciphertext", tamper(valid, (b) => void (b[30] ^= 1))],
    ["altered tag", tamper(valid, (b) => void (b[b.length - 1] ^= 1))],
    ["one character changed", valid.slice(0, 40) + (valid[40] === "a" ? "b" : "a") + valid.slice(41)],
    ["another key", subscribeToken(["t"], { secretHex: OTHER_SECRET_HEX })],
    ["expired", subscribeToken(["t"], { timestamp: now() - 86400 - 120 })],
    ["garbage", "x".repeat(200)],
  ];
}

for (const runtime of SERVERS) {
  describe(`${runtime}: errors`, () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await startServer(runtime, {
        env: { SSE_MAX_BODY_BYTES: String(MAX_BODY), SSE_MAX_TOPICS: "3", SSE_MAX_EVENTS: "2" },
      });
    });
    afterAll(async () => {
      await expectHealthy(server);
      expect(server.stderr()).not.toContain(SECRET_HEX);
      expect(server.logs.join("\n")).not.toContain(SECRET_HEX);
      await server.stop();
    });

    test("GET events without a token: 401", async () => {
      const res = await fetch(`${server.url}/events`);
      expect(res.status).toBe(401);
      expect(await res.text()).toMatch(/token/);
    });

    test("GET events: 401 for every token problem", async () => {
      for (const [what, token] of badTokens(subscribeToken(["t"]))) {
        const res = await fetch(eventsUrl(server, token));
        expect({ what, status: res.status }).toEqual({ what, status: 401 });
        const body = await res.text();
        expect(body.length).toBeLessThan(200);
        expect(body).toMatch(/^invalid token: /);
      }
    });

    test("POST submit: 401 for every token problem", async () => {
      const valid = submitToken([{ topic: "t", event: "e", data: "d" }]);
      for (const [what, token] of badTokens(valid)) {
        const res = await postSubmit(server, token);
        expect({ what, status: res.status }).toEqual({ what, status: 401 });
        await res.text();
      }
    });

    test("an authentic token with a bad payload: 400, on both endpoints", async () => {
      const badSubscribe: [string, string][] = [
        ["not msgpack", seal(new TextEncoder().encode("not msgpack at all \xc1"))],
        ["JSON", seal(new TextEncoder().encode('{"topics":["t"]}'))],
        ["no topics", mint({ topic: "t" })],
        ["topics not a list", mint({ topics: "t" })],
        ["topic not a string", mint({ topics: [1] })],
        ["LF in topic", mint({ topics: ["a\nb"] })],
        ["too many topics", mint({ topics: ["1", "2", "3", "4"] })],
        ["invalid UTF-8", mint({ topics: [new Uint8Array([0xff, 0xfe])] })],
      ];
      for (const [what, token] of badSubscribe) {
        const res = await fetch(eventsUrl(server, token));
        expect({ what, status: res.status }).toEqual({ what, status: 400 });
        expect((await res.text()).length).toBeLessThan(200);
      }
      const badSubmit: [string, string][] = [
        ["not msgpack", seal(new Uint8Array([0xc1, 0xc1]))],
        ["no events", mint({ evnts: [] })],
        ["event missing data", mint({ events: [{ topic: "t", event: "e" }] })],
        ["number as data", mint({ events: [{ topic: "t", event: "e", data: 5 }] })],
        ["CR in event name", mint({ events: [{ topic: "t", event: "a\rb", data: "" }] })],
        ["LF in topic", mint({ events: [{ topic: "t\n", event: "e", data: "" }] })],
        ["too many events", mint({ events: Array(3).fill({ topic: "t", event: "e", data: "" }) })],
        ["a subscribe token", subscribeToken(["t"])],
      ];
      for (const [what, token] of badSubmit) {
        const res = await postSubmit(server, token);
        expect({ what, status: res.status }).toEqual({ what, status: 400 });
        expect((await res.text()).length).toBeLessThan(200);
      }
    });

    test("error bodies never echo decrypted content", async () => {
      const secretish = "PAYLOAD-CONTENT-123";
      const res = await postSubmit(server, mint({ events: [{ topic: secretish, event: 1, data: secretish }] }));
      expect(res.status).toBe(400);
      expect(await res.text()).not.toContain(secretish);
    });

    test("a body over the limit: 413, with or without Content-Length", async () => {
      const big = "0".repeat(MAX_BODY + 1);
      const res = await postSubmit(server, big);
      expect(res.status).toBe(413);
      expect(await res.text()).toMatch(/larger than 4096 bytes/);
      // Streamed (chunked, no Content-Length): the server must stop reading at the limit.
      const chunks = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 8; i++) controller.enqueue(new Uint8Array(1024).fill(0x30));
          controller.close();
        },
      });
      const streamed = await postSubmit(server, chunks, { duplex: "half" } as RequestInit);
      expect(streamed.status).toBe(413);
      await streamed.text();
    });

    test("a submission is delivered whole or not at all", async () => {
      const stream = await openStream(eventsUrl(server, subscribeToken(["all-or-nothing"])));
      const good = { topic: "all-or-nothing", event: "e", data: "first" };
      const bad = { topic: "all-or-nothing", event: "e", data: 42 };
      const res = await postSubmit(server, mint({ events: [good, bad] }));
      expect(res.status).toBe(400);
      const ok = await postSubmit(server, submitToken([{ ...good, data: "after" }]));
      expect(ok.status).toBe(200);
      expect((await stream.next(1)).map((e) => e.data)).toEqual(["after"]);
      stream.close();
    });

    test("unknown routes: 404", async () => {
      for (const [method, path] of [["GET", "/nope"], ["POST", "/nope"], ["GET", "/submit/x"], ["GET", "/event"]]) {
        const res = await fetch(`${server.url}${path}`, { method });
        expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 });
        expect(res.headers.get("allow")).toBeNull();
        await res.text();
      }
    });

    test("a known path with the wrong method: 405 with Allow and CORS, counted and logged", async () => {
      const rejected405 = async () =>
        Number(/^sse_requests_rejected_total\{status="405"\} (\d+)$/m.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? 0);
      const before = await rejected405();
      const from = server.logs.length;
      const cases: [string, string, string][] = [
        ["GET", "/submit", "POST, OPTIONS"],
        ["HEAD", "/submit", "POST, OPTIONS"],
        ["PUT", "/submit", "POST, OPTIONS"],
        ["POST", "/events", "GET, HEAD, OPTIONS"],
        ["DELETE", "/ping", "GET, HEAD, OPTIONS"],
        ["POST", "/metrics", "GET, HEAD, OPTIONS"],
        ["PATCH", "/health/ready", "GET, HEAD, OPTIONS"],
      ];
      for (const [method, path, allow] of cases) {
        const res = await fetch(`${server.url}${path}`, { method, headers: { Origin: "https://app.example" } });
        const body = await res.text();
        expect({ method, path, status: res.status, allow: res.headers.get("allow") }).toEqual({ method, path, status: 405, allow });
        expect(res.headers.get("access-control-allow-origin")).toBe("*");
        if (method !== "HEAD") expect(body).toBe(`method not allowed; allowed: ${allow}`);
      }
      expect(await rejected405()).toBe(before + cases.length);
      const logged = await waitForLog(server, (e) => e.msg === "request rejected" && e.status === 405 && e.method === "POST", { from });
      expect(logged).toMatchObject({ level: "info", path: expect.stringContaining("/events"), reason: expect.stringContaining("GET") });
    });

    test("raw msgpack that is not a token: 401 (never parsed as a payload)", async () => {
      const res = await postSubmit(server, encode({ events: [] }));
      expect(res.status).toBe(401);
    });
  });
}

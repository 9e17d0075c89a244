/**
 * The dashboard's routes over real sockets, on every runtime: opened only by a
 * `{dashboard: true}` token (401 for any token problem, 400 for another kind of token),
 * with headers that keep the page and its token private; its stats stream, the tail of a
 * topic and the test publish, which goes through the usual validation and delivery.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  dashboardUrl,
  eventsUrl,
  expectHealthy,
  metric,
  postSubmit,
  SERVERS,
  startServer,
  waitForLog,
  type RunningServer,
} from "../helpers/server.ts";
import { startRedis } from "../helpers/redis.ts";
import { openStream } from "../helpers/sse.ts";
import { dashboardToken, OTHER_SECRET_HEX, submitToken, subscribeToken, tamper } from "../helpers/tokens.ts";

const TOKEN_TTL_SECONDS = 60;
const MAX_BODY_BYTES = 4096;
const ROUTES = ["dashboard", "dashboard/stream", "dashboard/tail"] as const;

/** `token` null: no Authorization header. */
const publish = (server: RunningServer, body: string, token: string | null = dashboardToken()) =>
  fetch(`${server.url}/dashboard/publish`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(token === null ? {} : { Authorization: `Bearer ${token}` }) },
    body,
  });

for (const runtime of SERVERS) {
  describe(`${runtime}: the dashboard's routes`, () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await startServer(runtime, {
        basePath: "/base/",
        env: { SSE_TOKEN_TTL: String(TOKEN_TTL_SECONDS), SSE_MAX_BODY_BYTES: String(MAX_BODY_BYTES) },
      });
    });
    afterAll(async () => {
      if (!server) return;
      try {
        await expectHealthy(server);
      } finally {
        await server.stop();
      }
    });

    test("the page: HTML, private, under a strict CSP, never framed", async () => {
      const response = await fetch(dashboardUrl(server, "dashboard", dashboardToken()));
      expect(response.status).toBe(200);
      const headers = Object.fromEntries(response.headers);
      expect(headers).toMatchObject({
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
      });
      expect(headers["content-security-policy"]).toMatch(/^default-src 'none'; script-src 'sha256-[^']+'; style-src 'sha256-[^']+'; connect-src 'self';/);
      expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
      expect(headers["access-control-allow-origin"]).toBeUndefined();
      expect(await response.text()).toContain("<title>sse-server dashboard</title>");
    });

    test("no token, a forged, foreign-key or expired one: 401 on every route, revealing nothing", async () => {
      const fresh = dashboardToken();
      const bad: [string, string][] = [
        ["missing", ""],
        ["forged", tamper(fresh, (bytes) => void (bytes[bytes.length - 1]! ^= 1))],
        ["forged", dashboardToken({ secretHex: OTHER_SECRET_HEX })],
        ["expired", dashboardToken({ timestamp: Math.floor(Date.now() / 1000) - 2 * TOKEN_TTL_SECONDS })],
      ];
      for (const [reason, token] of bad) {
        for (const route of ROUTES) {
          const response = await fetch(dashboardUrl(server, route, token, "&topic=t"));
          const body = await response.text();
          expect({ reason, route, status: response.status, body }).toEqual({ reason, route, status: 401, body: expect.stringMatching(/^invalid token: /) });
          expect(body).not.toContain("dashboard");
          expect(response.headers.get("content-type")).not.toContain("html");
        }
        const response = await publish(server, '{"topic":"t"}', token || null);
        expect({ reason, status: response.status }).toEqual({ reason, status: 401 });
        await response.text();
      }
    });

    test("an authentic token of another kind (subscribe, submit) opens nothing: 400", async () => {
      for (const token of [subscribeToken(["t"]), submitToken([{ topic: "t", event: "", data: "" }])]) {
        for (const route of ROUTES) {
          const response = await fetch(dashboardUrl(server, route, token, "&topic=t"));
          expect({ route, status: response.status }).toEqual({ route, status: 400 });
          expect(await response.text()).toMatch(/^invalid payload: dashboard: /);
        }
        const response = await publish(server, '{"topic":"t"}', token);
        expect(response.status).toBe(400);
        await response.text();
      }
      // ...and a dashboard token opens no stream of events.
      const events = await fetch(eventsUrl(server, dashboardToken()));
      expect(events.status).toBe(400);
      await events.text();
    });

    test("the stats stream: a stats event at once, then one a second, as JSON", async () => {
      const stream = await openStream(dashboardUrl(server, "dashboard/stream", dashboardToken()));
      expect(stream.response.status).toBe(200);
      expect(stream.response.headers.get("content-type")).toBe("text/event-stream");
      expect(stream.response.headers.get("cache-control")).toBe("no-store");
      expect(stream.response.headers.get("access-control-allow-origin")).toBeNull();
      const [first, second] = await stream.next(2, 5000);
      const a = JSON.parse(first!.data);
      const b = JSON.parse(second!.data);
      expect(first!.event).toBe("stats");
      expect(a).toMatchObject({ streams: expect.any(Number), topics: expect.any(Number), redis: null, history: { events: expect.any(Number) } });
      expect(b.time - a.time).toBeGreaterThanOrEqual(500);
      stream.close();
    });

    test("a sample counts a tail among the open streams, and names its topic among the busiest", async () => {
      const tails = await Promise.all(
        [0, 1].map(() => openStream(dashboardUrl(server, "dashboard/tail", dashboardToken(), "&topic=watched"))),
      );
      const stats = await openStream(dashboardUrl(server, "dashboard/stream", dashboardToken()));
      // The first sample may be one taken up to a second before (shared by dashboards
      // opening together); the one after it is taken with the tails open.
      const [, sample] = await stats.next(2, 5000);
      const { streams, busiest } = JSON.parse(sample!.data);
      expect(streams).toBeGreaterThanOrEqual(2);
      expect(busiest).toContainEqual({ topic: "watched", subscribers: 2 });
      for (const stream of [...tails, stats]) stream.close();
    });

    test("the tail follows a topic's events as they are submitted; a bad topic is a 400", async () => {
      const tail = await openStream(dashboardUrl(server, "dashboard/tail", dashboardToken(), "&topic=" + encodeURIComponent("news é")));
      expect(tail.response.status).toBe(200);
      expect(tail.response.headers.get("cache-control")).toBe("no-store");
      expect(tail.response.headers.get("access-control-allow-origin")).toBeNull();
      const res = await postSubmit(server, submitToken([{ topic: "news é", event: "update", data: "<b>1</b>\nline 2" }]));
      expect(res.status).toBe(200);
      await res.text();
      expect(await tail.next(1)).toEqual([{ event: "update", data: "<b>1</b>\nline 2", id: expect.any(String) }]);
      tail.close();
      for (const query of ["", "&topic=", "&topic=a%0Ab"]) {
        const response = await fetch(dashboardUrl(server, "dashboard/tail", dashboardToken(), query));
        expect({ query, status: response.status }).toEqual({ query, status: 400 });
        await response.text();
      }
    });

    test("publish: a test event reaches subscribers; bad ones are 400, oversized 413, nothing delivered", async () => {
      const stream = await openStream(eventsUrl(server, subscribeToken(["pub"])));
      for (const [body, status] of [
        ["{", 400],
        ['{"topic":"pub","event":"a\\nb"}', 400],
        ['{"topic":"pub","data":"\\udc00"}', 400],
        [JSON.stringify({ topic: "pub", data: "x".repeat(MAX_BODY_BYTES) }), 413],
      ] as const) {
        const response = await publish(server, body);
        expect({ body: body.slice(0, 40), status: response.status }).toEqual({ body: body.slice(0, 40), status });
        await response.text();
      }
      const submissions = await metric(server, "sse_submissions_total");
      const ok = await publish(server, JSON.stringify({ topic: "pub", event: "test", data: "from the dashboard" }));
      expect(ok.status).toBe(200);
      expect(ok.headers.get("access-control-allow-origin")).toBeNull();
      expect(await ok.text()).toBe("OK");
      expect(await stream.next(1)).toEqual([{ event: "test", data: "from the dashboard", id: expect.any(String) }]);
      expect(await metric(server, "sse_submissions_total")).toBe(submissions + 1);
      stream.close();
    });

    test("same-origin only: no CORS preflight; another method is a 405 with Allow", async () => {
      const preflight = await fetch(`${server.url}/dashboard/publish`, {
        method: "OPTIONS",
        headers: { Origin: "http://elsewhere.example", "Access-Control-Request-Method": "POST" },
      });
      expect(preflight.status).toBe(405);
      expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
      await preflight.text();
      for (const [route, method, allow] of [
        ["dashboard", "POST", "GET, HEAD"],
        ["dashboard/stream", "DELETE", "GET, HEAD"],
        ["dashboard/publish", "GET", "POST"],
      ] as const) {
        const response = await fetch(`${server.url}/${route}`, { method });
        expect({ route, status: response.status, allow: response.headers.get("allow") }).toEqual({ route, status: 405, allow });
        expect(response.headers.get("access-control-allow-origin")).toBeNull();
        await response.text();
      }
    });

    test("logs never carry a dashboard token", async () => {
      const from = server.logs.length;
      const token = dashboardToken({ timestamp: Math.floor(Date.now() / 1000) - 2 * TOKEN_TTL_SECONDS });
      await (await fetch(dashboardUrl(server, "dashboard", token))).text();
      await waitForLog(server, (e) => e.msg === "request rejected" && e.status === 401 && String(e.path).includes("token=[redacted]"), { from });
      expect(server.logs.slice(from).join("\n")).not.toContain(token);
    });
  });
}

describe("bun with Redis: the dashboard shows its state", () => {
  test("ready, instances seen; not ready once Redis is gone; history kept in Redis", async () => {
    const redis = await startRedis();
    const server = await startServer("bun", { env: { REDIS_URL: redis.url } });
    try {
      const stats = await openStream(dashboardUrl(server, "dashboard/stream", dashboardToken()));
      // The broker's answer arrives for the sample after the one that asked.
      const [, second] = await stats.next(2, 5000);
      expect(JSON.parse(second!.data)).toMatchObject({ redis: { ready: true, instances: expect.any(Number) }, history: null });
      await redis.stop();
      for (;;) {
        const [sample] = await stats.next(1, 10_000);
        if (JSON.parse(sample!.data).redis.ready === false) break;
      }
      stats.close();
    } finally {
      await server.stop();
      await redis.stop();
    }
  }, 30_000);
});

describe("bun with SSE_CLOSE_ON_EXPIRY: dashboard streams end with their token", () => {
  test("the stats stream says expired and ends; a shutdown ends an open one and exits 0", async () => {
    const server = await startServer("bun", { env: { SSE_CLOSE_ON_EXPIRY: "true", SSE_TOKEN_TTL: "60" } });
    try {
      const expiring = dashboardToken({ timestamp: Math.floor(Date.now() / 1000) - 58 });
      const stats = await openStream(dashboardUrl(server, "dashboard/stream", expiring));
      expect(stats.response.status).toBe(200);
      const lasting = await openStream(dashboardUrl(server, "dashboard/stream", dashboardToken()));
      for (;;) {
        const [event] = await stats.next(1, 5000);
        if (event!.event === "stats") continue;
        expect(event).toMatchObject({ event: "expired", data: "token expired" });
        break;
      }
      expect(await stats.ended).toBe(true);
      expect(await server.stop()).toBe(0);
      expect(await lasting.ended).toBe(true);
    } finally {
      await server.stop();
    }
  }, 20_000);
});

/**
 * The Hono app in process, for what the black-box suites cannot see: how a request is
 * answered, not only what the answer is.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createApp, hasPath } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { DashboardFeed } from "../src/dashboard/feed.ts";
import { Hub } from "../src/hub.ts";
import { createLogger } from "../src/log.ts";
import { Metrics } from "../src/metrics.ts";
import { createSseServer } from "../src/server.ts";
import { createBranca } from "../src/token/branca.ts";
import { TokenVerifier } from "../src/token/offload.ts";
import { MemoryTransport } from "../src/transport/memory.ts";
import { TransportUnavailable, type Transport } from "../src/transport/transport.ts";
import { spawnWebWorker } from "../src/listen/web-worker.ts";
import { encode } from "@msgpack/msgpack";
import type { SpawnTokenWorker, TokenWorkerEvents, VerifyJob, VerifyReply, WorkerStatus } from "../src/token/offload.ts";
import { SelfTestError } from "../src/token/self-test.ts";
import { noSink } from "./helpers/sink.ts";
import { presenceToken, randomBase62, SECRET_HEX, submitToken, subscribeToken } from "./helpers/tokens.ts";

const server = await createSseServer(
  loadConfig({ SSE_SECRET: SECRET_HEX, LOG_LEVEL: "silent" }),
  createLogger("silent", () => {}),
);
afterAll(() => server.close());

/** An app of its own, on `transport` (else in memory), configured from `env`. */
function appOf(env: Record<string, string> = {}, transport: Transport = new MemoryTransport(noSink)) {
  const config = loadConfig({ SSE_SECRET: SECRET_HEX, LOG_LEVEL: "silent", ...env });
  const hub = new Hub();
  const tokens = new TokenVerifier({ branca: createBranca(config.secret), secret: config.secret, ttlSeconds: config.tokenTtlSeconds });
  const metrics = new Metrics(hub, tokens);
  const dashboard = new DashboardFeed({ hub, metrics, transport, clustered: false });
  const app = createApp({ config, hub, transport, tokens, logger: createLogger("silent", () => {}), metrics, dashboard });
  // Counts the requests that go through Hono's router.
  const match = app.router.match.bind(app.router);
  let routed = 0;
  app.router.match = (method, path) => (routed++, match(method, path));
  return { app, metrics, routed: () => routed, close: () => dashboard.close() };
}

describe("app", () => {
  // Opening a stream is the hot path of a connect storm: one handler, no middleware chain,
  // so Hono answers with the Response itself rather than a Promise of it.
  test("a stream opens synchronously: GET events answers a Response, not a Promise", async () => {
    const answer = server.fetch(new Request(`http://127.0.0.1/events?token=${subscribeToken(["sync"])}`));
    expect(answer).toBeInstanceOf(Response);
    const response = answer as Response;
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(server.hub.subscriberCount).toBe(1);
    await response.body!.cancel();
    expect(server.hub.subscriberCount).toBe(0);
  });

  test("a rejected stream is answered synchronously too, with its CORS header", () => {
    const answer = server.fetch(new Request("http://127.0.0.1/events?token=nope"));
    expect(answer).toBeInstanceOf(Response);
    expect((answer as Response).status).toBe(401);
    expect((answer as Response).headers.get("access-control-allow-origin")).toBe("*");
  });
});

describe("app, POST submit", () => {
  // It goes through no CORS middleware: it sets the header itself, on every answer.
  const submit = (body: string, headers: Record<string, string> = {}) =>
    server.fetch(new Request("http://127.0.0.1/submit", { method: "POST", body, headers }));
  const corsOf = (response: Response) => response.headers.get("access-control-allow-origin");

  test("an accepted submission is answered OK, as text, with the CORS header", async () => {
    const answer = await submit(submitToken([{ topic: "cors", event: "e", data: "d" }]));
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe("OK");
    expect(answer.headers.get("content-type")).toBe("text/plain; charset=UTF-8");
    expect(corsOf(answer)).toBe("*");
  });

  test("its rejections carry the CORS header too: 401, 400, 413", async () => {
    const forged = await submit("not-a-token");
    const badPayload = await submit(subscribeToken(["not", "events"]));
    const tooLarge = await submit("x", { "content-length": String(server.config.maxBodyBytes + 1) });
    expect([forged.status, badPayload.status, tooLarge.status]).toEqual([401, 400, 413]);
    for (const answer of [forged, badPayload, tooLarge]) expect(corsOf(answer)).toBe("*");
  });

  // The exact path is answered before Hono's router (src/app.ts, `app.fetch`); any other
  // spelling of it reaches the same handler through the router. Either way, the same answer.
  test("the exact path and other spellings of it (routed by Hono) answer alike, byte for byte", async () => {
    const answerOf = async (path: string, body: string, headers: Record<string, string> = {}) => {
      const answer = await server.fetch(new Request(`http://127.0.0.1${path}`, { method: "POST", body, headers }));
      return { status: answer.status, text: await answer.text(), headers: [...answer.headers].sort() };
    };
    const bodies: [string, Record<string, string>?][] = [
      [submitToken([{ topic: "spelling", event: "e", data: "d" }])],
      ["not-a-token"],
      [""],
      [subscribeToken(["not", "events"])],
      ["x", { "content-length": String(server.config.maxBodyBytes + 1) }],
    ];
    for (const [body, headers] of bodies) {
      const exact = await answerOf("/submit", body, headers);
      expect(await answerOf("/sub%6Dit", body, headers)).toEqual(exact);
      expect(await answerOf("/submit?x=1", body, headers)).toEqual(exact);
    }
    expect((await answerOf("/submit/", "x")).status).toBe(404); // as Hono has it: no trailing slash
  });

  test("hasPath reads a URL's path as Hono does: exact, a query allowed after it", () => {
    expect(hasPath("http://127.0.0.1:8000/submit", "/submit")).toBe(true);
    expect(hasPath("https://h/sse/submit?a=1", "/sse/submit")).toBe(true);
    expect(hasPath("http://h/submit/", "/submit")).toBe(false);
    expect(hasPath("http://h/submits", "/submit")).toBe(false);
    expect(hasPath("http://h/x/submit", "/submit")).toBe(false);
    expect(hasPath("http://submit/", "/submit")).toBe(false); // a host named so
    expect(hasPath("http://h/sse/submit", "/submit")).toBe(false);
    expect(hasPath("http:///sse/submit", "/sse/submit")).toBe(false); // Hono reads /submit
    expect(hasPath("http:///sse/submit", "/submit")).toBe(true);
  });

  test("the exact path goes by no router; other spellings do", async () => {
    const { app, routed, close } = appOf();
    const token = submitToken([{ topic: "router", event: "e", data: "d" }]);
    expect((await app.fetch(new Request("http://127.0.0.1/submit", { method: "POST", body: token }))).status).toBe(200);
    expect(routed()).toBe(0);
    expect((await app.fetch(new Request("http://127.0.0.1/sub%6Dit", { method: "POST", body: token }))).status).toBe(200);
    expect(routed()).toBe(1);
    close();
  });

  test("a base path Hono reads otherwise (an escape, a pattern) is left to its router", async () => {
    for (const basePath of ["/a%62", "/:t"]) {
      const { app, routed, close } = appOf({ BASE_PATH: basePath });
      await app.fetch(new Request(`http://127.0.0.1${basePath}/submit`, { method: "POST", body: "x" }));
      expect({ basePath, routed: routed() }).toEqual({ basePath, routed: 1 });
      close();
    }
  });

  test("POST presence, the other POST route, keeps the CORS header (from the middleware)", async () => {
    const answer = await server.fetch(new Request("http://127.0.0.1/presence", { method: "POST", body: presenceToken(["cors"]) }));
    expect(answer.status).toBe(200);
    expect(corsOf(answer)).toBe("*");
    const refused = await server.fetch(new Request("http://127.0.0.1/presence", { method: "POST", body: "not-a-token" }));
    expect([refused.status, corsOf(refused)]).toEqual([401, "*"]);
  });

  test("a transport that cannot take it: 503 with Retry-After and the CORS header, nothing counted", async () => {
    const down: Transport = Object.assign(new MemoryTransport(noSink), {
      ready: false,
      publish: () => Promise.reject(new TransportUnavailable("event broker (Redis) is unavailable; retry later")),
    });
    const { app, metrics, close } = appOf({}, down);
    const token = submitToken([{ topic: "down", event: "e", data: "d" }]);
    const answer = await app.fetch(new Request("http://127.0.0.1/submit", { method: "POST", body: token }));
    expect(answer.status).toBe(503);
    expect(answer.headers.get("retry-after")).toBe("2");
    expect(corsOf(answer)).toBe("*");
    expect(await metrics.render()).toMatch(/^sse_submissions_total 0$/m);
    close();
  });
});

describe("app, long tokens", () => {
  // A worker that passes its self-test, then takes jobs and never answers: the queue only fills.
  const silentWorker: SpawnTokenWorker = (events) => ({
    post: (request) => void (request.kind === "init" && events.message({ kind: "ready" })),
    terminate: () => {},
  });

  test("while the worker's queue is full, a long token gets 503 + Retry-After at once", async () => {
    const full = await createSseServer(
      loadConfig({ SSE_SECRET: SECRET_HEX, LOG_LEVEL: "silent" }),
      createLogger("silent", () => {}),
      { spawnTokenWorker: silentWorker },
    );
    const submit = () =>
      full.fetch(new Request("http://127.0.0.1/submit", { method: "POST", body: randomBase62(64 * 1024) }));
    // 1 MiB of characters waits at most: 16 tokens of 64 KiB.
    const waiting = Array.from({ length: 16 }, submit);
    const refused = await submit();
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(await refused.text()).toMatch(/retry later/);
    // A short token is still verified inline, whatever the queue.
    const short = full.fetch(new Request(`http://127.0.0.1/events?token=${subscribeToken(["still"])}`)) as Response;
    expect(short.status).toBe(200);
    await short.body!.cancel();
    await full.close();
    // Shutting down answers what was waiting: 503, not a hang.
    expect(new Set((await Promise.all(waiting)).map((r) => r.status))).toEqual(new Set([503]));
  });

  test("a stream whose long token was verified on the worker still respects SSE_MAX_STREAMS", async () => {
    const limited = await createSseServer(
      loadConfig({ SSE_SECRET: SECRET_HEX, LOG_LEVEL: "silent", SSE_MAX_STREAMS: "1" }),
      createLogger("silent", () => {}),
      { spawnTokenWorker: spawnWebWorker(new URL("../src/entry/token-worker.ts", import.meta.url)) },
    );
    try {
      const longTopics = Array.from({ length: 40 }, (_, i) => `long-${i}-${"t".repeat(60)}`);
      const viaWorker = limited.fetch(new Request(`http://127.0.0.1/events?token=${subscribeToken(longTopics)}`));
      expect(viaWorker).toBeInstanceOf(Promise);
      // Meanwhile a short token takes the one place left.
      const first = limited.fetch(new Request(`http://127.0.0.1/events?token=${subscribeToken(["first"])}`)) as Response;
      expect(first.status).toBe(200);
      const second = await viaWorker;
      expect(second.status).toBe(503);
      expect(limited.hub.subscriberCount).toBe(1);
      await first.body!.cancel();
    } finally {
      await limited.close();
    }
  });
});

describe("app, the token worker", () => {
  /** A worker that answers `init` with `status` and hands each job to the test. */
  function scriptedWorker(status: WorkerStatus) {
    const jobs: VerifyJob[] = [];
    let events: TokenWorkerEvents | undefined;
    const spawn: SpawnTokenWorker = (e) => {
      events = e;
      return {
        post: (request) => (request.kind === "init" ? e.message(status) : void jobs.push(request)),
        terminate: () => {},
      };
    };
    return { spawn, jobs, answer: (reply: VerifyReply) => events!.message(reply) };
  }
  const config = () => loadConfig({ SSE_SECRET: SECRET_HEX, LOG_LEVEL: "silent" });
  const silent = () => createLogger("silent", () => {});

  test("a worker whose crypto fails its self-test stops start-up", async () => {
    const failing = scriptedWorker({ kind: "failed", message: "token crypto (x) failed its known-answer test: sealing gave a different token" });
    expect(createSseServer(config(), silent(), { spawnTokenWorker: failing.spawn })).rejects.toThrow(SelfTestError);
  });

  test("a client that leaves while its long token is verified gets no stream", async () => {
    const worker = scriptedWorker({ kind: "ready" });
    const sse = await createSseServer(config(), silent(), { spawnTokenWorker: worker.spawn });
    try {
      const longTopics = Array.from({ length: 40 }, (_, i) => `gone-${i}-${"t".repeat(60)}`);
      const leaving = new AbortController();
      const request = new Request(`http://127.0.0.1/events?token=${subscribeToken(longTopics)}`, { signal: leaving.signal });
      const answer = sse.fetch(request) as Promise<Response>;
      leaving.abort();
      worker.answer({ id: worker.jobs[0]!.id, ok: true, payload: encode({ topics: longTopics }), timestamp: Math.floor(Date.now() / 1000) });
      expect((await answer).status).toBe(499);
      expect(sse.hub.subscriberCount).toBe(0);
    } finally {
      await sse.close();
    }
  });
});

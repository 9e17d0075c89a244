/**
 * The HTTP surface, in Web-standard Request/Response only: `GET events`, `POST submit`,
 * `POST presence`, `GET ping`, health and metrics, CORS on everything. Every client mistake maps to a 4xx
 * with one short line; nothing a client sends can produce a 500.
 */
import { Hono, type Context } from "hono";
import { cors } from "hono/cors";
import { CLIENT_SOURCE } from "./browser/client-source.ts";
import type { Config } from "./config.ts";
import type { DashboardFeed } from "./dashboard/feed.ts";
import { DASHBOARD_ROUTES, isDashboardPath, mountDashboard } from "./dashboard/routes.ts";
import { ExpiryWatch } from "./expiry.ts";
import type { Hub, Subscriber } from "./hub.ts";
import { redactUrl, type Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { Grants } from "./prefixes.ts";
import { parsePresence, parseSubmit, parseSubscribe, PayloadError } from "./protocol.ts";
import { BodyTooLarge, BodyUnreadable, readBodyText } from "./read-body.ts";
import { startFromShared, startStream, type StreamStart } from "./resume.ts";
import { encodeEvent, type SseEvent } from "./sse.ts";
import { StartingSubscriber } from "./starting.ts";
import { RetryFrames } from "./retry.ts";
import { eventStreamResponse, SubscriberStream, type EndReason } from "./stream.ts";
import { TokenError, type OpenedToken } from "./token/branca.ts";
import { VerifierBusy, type TokenVerifier } from "./token/offload.ts";
import { TransportUnavailable, type Idempotency, type SharedHistory, type Transport } from "./transport/transport.ts";

export interface AppDeps {
  readonly config: Config;
  readonly hub: Hub;
  readonly transport: Transport;
  readonly tokens: TokenVerifier;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The live dashboard's stats feed (src/dashboard/). */
  readonly dashboard: DashboardFeed;
}

/**
 * The header the CORS middleware adds; `GET events`, `POST submit` and the not-found and
 * wrong-method answers, which it never sees, set it themselves.
 */
const ALLOW_ANY_ORIGIN = "Access-Control-Allow-Origin";

const STREAM_HEADERS = {
  "Content-Type": "text/event-stream",
  "Cache-Control": "no-cache",
  "X-Accel-Buffering": "no",
  [ALLOW_ANY_ORIGIN]: "*",
} as const;

/**
 * The headers of every answer of `POST submit`, accepted or not: what `c.text(...)` says,
 * and the CORS header. One Headers for every answer (a Response copies its init's headers,
 * and Bun copies a Headers faster than it reads an object); never changed after this.
 */
const SUBMIT_HEADERS = new Headers({ "Content-Type": "text/plain; charset=UTF-8", [ALLOW_ANY_ORIGIN]: "*" });

/** The last event of a stream whose token ran out (SSE_CLOSE_ON_EXPIRY): the client should get a fresh one. */
const EXPIRED_FRAME = encodeEvent("expired", "token expired");
const NOTHING = () => {};

/** Too many open streams: the client should come back later (or elsewhere). */
class ServerFull extends Error {}

type RejectStatus = 400 | 401 | 405 | 413 | 503;
/** How a request is refused: its status, one line, and when to retry (a 503). */
interface Rejection {
  readonly status: RejectStatus;
  readonly message: string;
  readonly retryAfter?: string;
}
type HeaderRecord = Readonly<Record<string, string>>;

/**
 * The methods each route answers, for the `Allow` header of a 405: HEAD with every GET
 * (Hono's doing), OPTIONS everywhere (the CORS middleware). Keep in step with the routes below.
 */
const ROUTE_METHODS: ReadonlyMap<string, string> = new Map([
  ["/events", "GET, HEAD, OPTIONS"],
  ["/submit", "POST, OPTIONS"],
  ["/presence", "POST, OPTIONS"],
  ["/ping", "GET, HEAD, OPTIONS"],
  ["/health/live", "GET, HEAD, OPTIONS"],
  ["/health/ready", "GET, HEAD, OPTIONS"],
  ["/metrics", "GET, HEAD, OPTIONS"],
  ["/client.js", "GET, HEAD, OPTIONS"],
  ...DASHBOARD_ROUTES, // same-origin: no CORS, so no OPTIONS
]);

/** The browser client (src/browser/client.js), importable by any page: cacheable for an hour. */
const CLIENT_HEADERS = {
  "Content-Type": "text/javascript; charset=utf-8",
  "Cache-Control": "public, max-age=3600",
  "X-Content-Type-Options": "nosniff",
} as const;

export function createApp(deps: AppDeps): Hono {
  const { config, hub, transport, tokens, logger, metrics, dashboard } = deps;
  const app = config.basePath ? new Hono().basePath(config.basePath) : new Hono();
  const retry = new RetryFrames(config.retryMinMs, config.retryMaxMs);
  const expiry = config.closeOnExpiry ? new ExpiryWatch() : undefined;

  /**
   * Verifies and decrypts a token; any problem is a TokenError (→ 401). Synchronous for
   * every token a backend normally mints; a long one is verified off the event loop (a
   * Promise), or refused with VerifierBusy (→ 503) while that queue is full.
   */
  const openToken = (token: string | undefined): OpenedToken | Promise<OpenedToken> => {
    if (!token) throw new TokenError("missing", "token is missing");
    if (token.length > config.maxBodyBytes) throw new TokenError("malformed", "token is too long");
    return tokens.open(token);
  };

  // `GET events` goes through no CORS middleware: through it, Hono would build and copy
  // two more Responses per stream (its `c.res` setter; on Node each also becomes an undici
  // Response). The stream's own headers carry the one CORS header the middleware would add
  // (origin "*"); a rejection gets it through `c.header`, which the error answer includes.
  app.get("/events", (c) => {
    const rejectWithCors = (error: unknown): never => {
      c.header(ALLOW_ANY_ORIGIN, "*");
      throw error;
    };
    try {
      const opened = openEvents(c);
      return opened instanceof Promise ? opened.catch(rejectWithCors) : opened;
    } catch (error) {
      return rejectWithCors(error);
    }
  });

  function openEvents(c: Context): Response | Promise<Response> {
    admitStream();
    const opened = openToken(c.req.query("token"));
    if (!(opened instanceof Promise)) return openEventsFor(c, opened);
    // Verified on the worker: the server may have filled up or lost Redis meanwhile, and
    // the client may have left (then no stream is opened for nobody).
    return opened.then((token) => {
      if (c.req.raw.signal.aborted) return new Response(null, { status: 499 });
      admitStream();
      return openEventsFor(c, token);
    });
  }

  function admitStream(): void {
    if (config.maxStreams > 0 && hub.subscriberCount >= config.maxStreams) throw new ServerFull();
    // A stream opened now would miss events and be ended at recovery anyway.
    if (!transport.ready) throw new TransportUnavailable("event broker (Redis) is unavailable; retry later");
  }

  function openEventsFor(c: Context, token: OpenedToken): Response | Promise<Response> {
    const { topics, prefixes = [] } = parseSubscribe(token.payload, config);
    if (prefixes.length > 0 && !transport.deliversPrefixes) {
      throw new PayloadError("prefix grants are not available with REDIS_CLUSTER (sharded pub/sub has no pattern subscribe)");
    }
    return openGrantStream(c, { topics, prefixes }, token, STREAM_HEADERS);
  }

  function openGrantStream(c: Context, grants: Grants, token: OpenedToken, headers: HeaderRecord): Response | Promise<Response> {
    // Hono answers HEAD through this GET route and drops the body unread: open no stream.
    if (c.req.method === "HEAD") return new Response(null, { headers });
    // A reconnecting EventSource sends the header; it is newer than any id in the URL.
    const lastEventId = c.req.header("last-event-id") || c.req.query("lastEventId") || undefined;
    const shared = transport.sharedHistory;
    const expires = token.timestamp + config.tokenTtlSeconds; // the token's last valid second
    // A server that claims streams says so in `env`: its Responses need no body.
    return shared
      ? openSharedStream(shared, grants, lastEventId, c.env, expires, headers)
      : openStream(grants, lastEventId, c.env, expires, headers);
  }

  // CORS on every request but `GET events` and `POST submit`: a request that matches one
  // handler only is answered by Hono without compose, and synchronously (a Response, not a
  // Promise of one): 4 µs of server CPU and 0.3 KB per stream less on Bun
  // (bench/stream-variants.ts). Through the middleware, a submission would also cost three
  // Responses where one does (BENCHMARKS.md, "Submitting"). So a POST route takes the
  // middleware itself (`POST presence`) or sets the header (`POST submit`); a POST no route
  // matches gets it from notFound.
  const allowAnyOrigin = cors({ origin: "*", allowMethods: ["GET", "POST", "OPTIONS"], maxAge: 86400 });
  // The dashboard is same-origin: its routes get no CORS at all.
  app.on(["PUT", "PATCH", "DELETE", "OPTIONS"], "*", (c, next) =>
    isDashboardPath(c.req.path, config.basePath) ? next() : allowAnyOrigin(c, next),
  );

  app.get("/ping", allowAnyOrigin, (c) => c.text("pong"));
  // Liveness: the process serves HTTP. Readiness: it can also deliver every event.
  app.get("/health/live", allowAnyOrigin, (c) => c.text("live"));
  app.get("/health/ready", allowAnyOrigin, (c) =>
    transport.ready ? c.text("ready") : c.text("not ready: event transport unavailable", 503),
  );
  app.get("/metrics", allowAnyOrigin, async (c) =>
    c.text(await metrics.render(), 200, { "Content-Type": metrics.registry.contentType }),
  );

  app.get("/client.js", allowAnyOrigin, (c) => c.body(CLIENT_SOURCE, 200, CLIENT_HEADERS));

  /** A stream resumed from this process's history: replay and subscription in one synchronous step. */
  function openStream(grants: Grants, lastEventId: string | undefined, env: unknown, expires: number, headers: HeaderRecord): Response {
    const { topics, prefixes } = grants;
    const start = startStream(hub.history, topics, lastEventId, prefixes);
    let unwatch = NOTHING;
    const stream: SubscriberStream = new SubscriberStream(
      start.opening,
      config.maxBufferedEvents,
      onStreamEnd(() => stream, grants, () => unwatch()),
    );
    unwatch = endAtExpiry(stream, expires);
    sendRetry(stream);
    // Replay and subscription happen in one synchronous step: no event can fall between.
    stream.replay(start.backlog);
    hub.subscribe(stream, topics, prefixes);
    return streamOpened(stream, start, env, headers);
  }

  /**
   * A stream started from the broker's shared history: it joins the hub first, holding
   * live events, then the history answers where it starts; the response begins once that
   * is known (503 if the broker cannot tell).
   */
  async function openSharedStream(
    shared: SharedHistory,
    grants: Grants,
    lastEventId: string | undefined,
    env: unknown,
    expires: number,
    headers: HeaderRecord,
  ): Promise<Response> {
    const { topics, prefixes } = grants;
    const starting = new StartingSubscriber(config.maxBufferedEvents);
    hub.subscribe(starting, topics, prefixes);
    let start: StreamStart;
    let after: number;
    try {
      const answer = await shared.start(topics, lastEventId, prefixes);
      if (starting.ended) throw new TransportUnavailable("the stream was ended before it started; retry later");
      start = startFromShared(answer);
      after = answer.after;
    } catch (error) {
      hub.unsubscribe(starting, topics, prefixes);
      throw error;
    }
    let unwatch = NOTHING;
    const stream = new SubscriberStream(start.opening, config.maxBufferedEvents, onStreamEnd(() => starting, grants, () => unwatch()));
    unwatch = endAtExpiry(stream, expires);
    sendRetry(stream);
    stream.replay(start.backlog);
    starting.attach(stream, after);
    return streamOpened(stream, start, env, headers);
  }

  /** A stream's reconnection delay, drawn for it (./retry.ts), right after its opening. */
  function sendRetry(stream: SubscriberStream): void {
    const frame = retry.next();
    stream.replay([frame]);
    hub.bytesWritten += frame.length;
  }

  /**
   * With SSE_CLOSE_ON_EXPIRY, ends `stream` with an `expired` event once its token has run
   * out; returns what stops that (for a stream that ends first).
   */
  function endAtExpiry(stream: SubscriberStream, lastValidSecond: number): () => void {
    if (!expiry) return NOTHING;
    const expire = () => {
      stream.push(EXPIRED_FRAME);
      stream.end();
    };
    return expiry.watch({ expire }, lastValidSecond);
  }

  /** What a stream's end does: leave the hub (as `subscriber`, how the hub knows it), stop watching its expiry, count, log. */
  function onStreamEnd(subscriber: () => Subscriber, grants: Grants, unwatch: () => void): (reason: EndReason) => void {
    return (reason: EndReason) => {
      hub.unsubscribe(subscriber(), grants.topics, grants.prefixes);
      unwatch();
      if (reason === "slow") {
        metrics.slowConsumers.inc();
        logger.warn("slow subscriber disconnected", { topics: grants.topics.length, prefixes: grants.prefixes.length });
      }
      logger.debug("stream closed", { reason, streams: hub.subscriberCount, topics: hub.topicCount });
    };
  }

  function streamOpened(stream: SubscriberStream, start: StreamStart, env: unknown, headers: HeaderRecord): Response {
    hub.bytesWritten += start.backlog.reduce((sum, frame) => sum + frame.length, start.opening.length);
    logger.debug("stream opened", {
      start: start.outcome,
      replayed: start.outcome === "resumed" ? start.backlog.length : 0, // a reset is not a replay
      streams: hub.subscriberCount,
      topics: hub.topicCount,
    });
    return eventStreamResponse(stream, headers, env);
  }

  /**
   * `POST submit`: a backend's every event comes this way. It goes through no CORS
   * middleware (see above): each answer, accepted or not, carries the one header itself.
   */
  async function submit(request: Request): Promise<Response> {
    const started = performance.now();
    try {
      const body = await readBodyText(request, config.maxBodyBytes);
      const opened = openToken(body.trim());
      // A token verified inline is no Promise: awaiting it anyway would cost a turn of the microtask queue.
      const { events, id } = parseSubmit((opened instanceof Promise ? await opened : opened).payload, config);
      const once = id === undefined ? undefined : { id, ttlMs: config.idempotencyTtlSeconds * 1000 };
      await publish(events, once, started);
      return new Response("OK", { headers: SUBMIT_HEADERS });
    } catch (error) {
      const rejection = rejectionFor(error);
      if (rejection === undefined) {
        logUnexpected(request, error);
        return new Response("internal error", { status: 500, headers: SUBMIT_HEADERS });
      }
      countRejection(request, rejection.status, rejection.message);
      const headers = rejection.retryAfter ? new Headers([...SUBMIT_HEADERS, ["Retry-After", rejection.retryAfter]]) : SUBMIT_HEADERS;
      return new Response(rejection.message, { status: rejection.status, headers });
    }
  }
  // Reached only by other spellings of the path (say, percent-encoded): see `app.fetch` below.
  app.post("/submit", (c) => submit(c.req.raw));

  /** Hands a validated submission to the transport, and counts it once taken. */
  function publish(events: readonly SseEvent[], once: Idempotency | undefined, started: number): Promise<void> {
    return transport.publish(events, once).then((outcome) => {
      // A replay is answered as the first time: the client cannot tell, and need not.
      if (outcome === "replayed") metrics.submissionReplayed();
      else metrics.submissionAccepted(events.length, performance.now() - started);
    });
  }

  mountDashboard(app, {
    config,
    feed: dashboard,
    openToken,
    openTopicStream: (c, topics, token, headers) => {
      admitStream();
      return openGrantStream(c, { topics, prefixes: [] }, token, headers);
    },
    endAtExpiry: (stream, token) => endAtExpiry(stream, token.timestamp + config.tokenTtlSeconds),
    publish: (events) => publish(events, undefined, performance.now()),
  });

  // Who is listening: open streams per topic, over every live instance.
  app.post("/presence", allowAnyOrigin, async (c) => {
    const body = await readBodyText(c.req.raw, config.maxBodyBytes);
    const { topics } = parsePresence((await openToken(body.trim())).payload, config);
    const counts = await transport.presence(topics);
    metrics.presenceQueries.inc();
    return c.json(counts);
  });

  // Reached by every request no route matched: a known path with another method is a 405.
  app.notFound((c) => {
    const path = c.req.path;
    // A GET to no route has met no CORS middleware; the dashboard has none.
    if (!isDashboardPath(path, config.basePath)) c.header(ALLOW_ANY_ORIGIN, "*");
    const allowed = path.startsWith(config.basePath) ? ROUTE_METHODS.get(path.slice(config.basePath.length)) : undefined;
    if (allowed === undefined) return c.text("not found", 404);
    c.header("Allow", allowed);
    return reject(c, 405, `method not allowed; allowed: ${allowed}`);
  });

  app.onError((error, c) => {
    if (error instanceof ServerFull && c.req.header("accept")?.includes("text/event-stream")) {
      return comeBackLater(c, serverFullMessage());
    }
    const rejection = rejectionFor(error);
    if (rejection === undefined) {
      logUnexpected(c.req.raw, error);
      return c.text("internal error", 500);
    }
    if (rejection.retryAfter) c.header("Retry-After", rejection.retryAfter);
    return reject(c, rejection.status, rejection.message);
  });

  /** What a client mistake (or a passing condition) thrown while answering says; undefined for anything else, a bug. */
  function rejectionFor(error: unknown): Rejection | undefined {
    if (error instanceof TokenError) {
      metrics.rejectToken(error.reason);
      return { status: 401, message: `invalid token: ${error.message}` };
    }
    if (error instanceof PayloadError || error instanceof BodyUnreadable) return { status: 400, message: error.message };
    if (error instanceof BodyTooLarge) return { status: 413, message: error.message };
    if (error instanceof TransportUnavailable) return { status: 503, message: error.message, retryAfter: "2" };
    if (error instanceof VerifierBusy) return { status: 503, message: error.message, retryAfter: "1" };
    if (error instanceof ServerFull) return { status: 503, message: serverFullMessage(), retryAfter: "5" };
    return undefined;
  }

  function serverFullMessage(): string {
    return `too many open streams (limit ${config.maxStreams}); retry later`;
  }

  /** A bug, not the client's doing (answered 500). */
  function logUnexpected(request: Request, error: unknown): void {
    logger.error("unexpected error", { path: redactUrl(request.url), error: String(error) });
  }

  /**
   * An EventSource that gets a 503 gives up for good; one that gets a stream holding only
   * a `retry:` line, which then ends, comes back after that delay. So a full server tells
   * browsers (they ask for `text/event-stream`) to come back later, each after its own
   * random delay, and says why in a comment. Such an EventSource fires `open` first.
   */
  function comeBackLater(c: Context, message: string): Response {
    metrics.requestsRejected.inc({ status: "200" });
    logger.info("request rejected", { method: c.req.method, path: redactUrl(c.req.url), status: 200, reason: `${message} (told to retry)` });
    const body = `retry: ${retry.drawMs()}\n: ${message}\n\n`;
    return new Response(body, { headers: STREAM_HEADERS });
  }

  /** Answers a client mistake: counted, logged with its reason, never with the token. */
  function reject(c: Context, status: RejectStatus, message: string): Response {
    countRejection(c.req.raw, status, message);
    return c.text(message, status);
  }

  function countRejection(request: Request, status: RejectStatus, message: string): void {
    metrics.requestsRejected.inc({ status: String(status) });
    logger.info("request rejected", { method: request.method, path: redactUrl(request.url), status, reason: message });
  }

  // `POST submit`, the exact path, is answered before Hono's router: a backend's every
  // event would otherwise pay for a Context, a HonoRequest and compose's Promises, about
  // 2.5 µs of the server's CPU a submission on Bun (BENCHMARKS.md, "Submitting"). Every
  // other request, other spellings of that path included, is routed as usual. server.ts,
  // the tests and Hono's `app.request` all call `app.fetch`, so all of them take this.
  // A base path with a character Hono reads otherwise (an escape, a pattern) is left to it.
  const submitPath = `${config.basePath}/submit`;
  const route = app.fetch;
  if (/^[\w./~-]*$/.test(submitPath)) {
    app.fetch = (request, env, executionCtx) =>
      request.method === "POST" && hasPath(request.url, submitPath) ? submit(request) : route(request, env, executionCtx);
  }

  return app;
}

/**
 * Whether an absolute URL's path is exactly `path`, a query allowed after it. The path
 * starts where Hono's `getPath` starts it, even in a URL with an empty host (Deno.serve
 * builds `request.url` from the Host header as sent).
 */
export function hasPath(url: string, path: string): boolean {
  const start = url.indexOf("/", url.indexOf(":") + 4);
  if (start < 0 || !url.startsWith(path, start)) return false;
  const end = start + path.length;
  return end === url.length || url.charCodeAt(end) === 0x3f; // "?"
}

/**
 * The live dashboard's HTTP routes, all opened by a `{dashboard: true}` token:
 * `GET dashboard` (the page), `GET dashboard/stream` (its stats, one event a second),
 * `GET dashboard/tail` (one topic's events) and `POST dashboard/publish` (a test event).
 * Same-origin only: no CORS, and headers that keep the token in the URL from leaking.
 */
import type { Context, Hono } from "hono";
import type { Config } from "../config.ts";
import type { Subscriber } from "../hub.ts";
import { parseDashboard, parseTestEvent, PayloadError } from "../protocol.ts";
import { readBodyText } from "../read-body.ts";
import type { SseEvent } from "../sse.ts";
import { OPEN_FRAME } from "../sse.ts";
import { eventStreamResponse, SubscriberStream } from "../stream.ts";
import type { OpenedToken } from "../token/branca.ts";
import type { DashboardFeed } from "./feed.ts";
import { DASHBOARD_PAGE, DASHBOARD_SCRIPT_HASH, DASHBOARD_STYLE_HASH } from "./page-source.ts";

/** The routes under the base path, with the methods each answers (for a 405's `Allow`). */
export const DASHBOARD_ROUTES: ReadonlyMap<string, string> = new Map([
  ["/dashboard", "GET, HEAD"],
  ["/dashboard/stream", "GET, HEAD"],
  ["/dashboard/tail", "GET, HEAD"],
  ["/dashboard/publish", "POST"],
]);

/** Every dashboard answer: never cached, never sent on as a referrer, never sniffed. */
const PRIVATE = {
  "Cache-Control": "no-store",
  "Referrer-Policy": "no-referrer",
  "X-Content-Type-Options": "nosniff",
} as const;

/**
 * The page runs only its own inline script and style (by hash), talks only to this
 * origin, and may not be framed, submit forms elsewhere or change its base URL.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src '${DASHBOARD_SCRIPT_HASH}'`,
  `style-src '${DASHBOARD_STYLE_HASH}'`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const PAGE_HEADERS = {
  ...PRIVATE,
  "Content-Type": "text/html; charset=utf-8",
  "Content-Security-Policy": DASHBOARD_CSP,
  "X-Frame-Options": "DENY",
} as const;

export const DASHBOARD_STREAM_HEADERS = {
  ...PRIVATE,
  "Content-Type": "text/event-stream",
  "X-Accel-Buffering": "no",
} as const;

/** What the HTTP app lends the dashboard: its token check, streams and publishing. */
export interface DashboardHost {
  readonly config: Config;
  readonly feed: DashboardFeed;
  /** Verifies a token; any problem is a TokenError (401). */
  openToken(token: string | undefined): OpenedToken | Promise<OpenedToken>;
  /** A stream of `topics` opened as `GET events` opens one, with these headers. */
  openTopicStream(c: Context, topics: readonly string[], token: OpenedToken, headers: Readonly<Record<string, string>>): Response | Promise<Response>;
  /** Ends `stream` when its token runs out, if the server does that to streams; returns what stops it. */
  endAtExpiry(stream: SubscriberStream, token: OpenedToken): () => void;
  /** Publishes as `POST submit` does (limits, transport, metrics). */
  publish(events: readonly SseEvent[]): Promise<void>;
}

export function isDashboardPath(path: string, basePath: string): boolean {
  return path.startsWith(basePath) && DASHBOARD_ROUTES.has(path.slice(basePath.length));
}

export function mountDashboard(app: Hono, host: DashboardHost): void {
  const { config, feed } = host;

  /** A verified dashboard token: 401 for any token problem, 400 for another kind of token. */
  const dashboardToken = async (token: string | undefined): Promise<OpenedToken> => {
    const opened = await host.openToken(token);
    parseDashboard(opened.payload);
    return opened;
  };

  app.get("/dashboard", async (c) => {
    await dashboardToken(c.req.query("token"));
    return c.body(DASHBOARD_PAGE, 200, PAGE_HEADERS);
  });

  app.get("/dashboard/stream", async (c) => {
    const token = await dashboardToken(c.req.query("token"));
    if (c.req.method === "HEAD") return new Response(null, { headers: DASHBOARD_STREAM_HEADERS });
    let stop = (): void => {};
    const stream = new SubscriberStream(OPEN_FRAME, config.maxBufferedEvents, () => stop());
    const unwatchExpiry = host.endAtExpiry(stream, token);
    const unwatch = feed.watch(stream satisfies Subscriber);
    stop = () => {
      unwatch();
      unwatchExpiry();
    };
    return eventStreamResponse(stream, DASHBOARD_STREAM_HEADERS, c.env);
  });

  app.get("/dashboard/tail", async (c) => {
    const token = await dashboardToken(c.req.query("token"));
    const topic = c.req.query("topic") ?? "";
    if (topic === "" || /[\r\n]/.test(topic)) throw new PayloadError("topic: must be one line, not empty");
    return host.openTopicStream(c, [topic], token, DASHBOARD_STREAM_HEADERS);
  });

  app.post("/dashboard/publish", async (c) => {
    const bearer = /^Bearer (\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    await dashboardToken(bearer);
    const event = parseTestEvent(await readBodyText(c.req.raw, config.maxBodyBytes), config);
    await host.publish([event]);
    return c.text("OK", 200, PRIVATE);
  });
}

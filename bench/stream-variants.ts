/**
 * A minimal server for bench/idle-streams.ts: every request gets an SSE-like response
 * whose body is built one of several ways (VARIANT), so that what a runtime spends per
 * open stream can be told apart from what the app spends. Runs unchanged on Bun, Deno and
 * Node (Node through @hono/node-server, as the real server). Prints `{"msg":"listening","port":N}`
 * once listening. bench/run.ts serves a variant as target `<runtime>:<variant>`. Variants:
 *
 *   fixed      a 6-byte string body (not a stream): the cost of an idle keep-alive request
 *   start      ReadableStream, opening frame enqueued in start, highWaterMark 0 (as src/stream.ts)
 *   pull       ReadableStream, opening frame enqueued on the first pull (queue empty after)
 *   bytes      ReadableStream of type "bytes", opening frame enqueued in start
 *   direct     Bun only: a `type: "direct"` stream writing the opening frame
 *   app        the real server (createSseServer and the runtime's listen adapter)
 *   start+...  `start` behind layers of the app's work per open (`layeredFetch`), e.g.
 *              start+hono, start+token, start+headers+hono+token+hub
 */
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { loadConfig } from "../src/config.ts";
import { Hub } from "../src/hub.ts";
import { createLogger } from "../src/log.ts";
import { parseSubscribe } from "../src/protocol.ts";
import { createSseServer, type FetchHandler, type Listen } from "../src/server.ts";
import { OPEN_FRAME } from "../src/sse.ts";
import { eventStreamResponse, SubscriberStream } from "../src/stream.ts";
import { createBranca } from "../src/token/branca.ts";

const variant = process.env.VARIANT ?? "start";
const HEADERS = { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" };
/**
 * Open streams' controllers, reachable as the hub keeps its subscribers and let go when the
 * client goes (as the hub lets go), so that RSS per stream counts open streams only.
 */
const openControllers = new Set<unknown>();
/** What the layers compute, kept somewhere so that no JIT drops the work. */
let lastResult: unknown;

/** A stream source whose controller is held while the stream is open. */
function heldWhileOpen<C>(start: (c: C) => void): { start(c: C): void; cancel(): void } {
  let controller: C;
  return {
    start: (c) => {
      openControllers.add((controller = c));
      start(c);
    },
    cancel: () => void openControllers.delete(controller),
  };
}

function body(kind = variant): BodyInit {
  switch (kind) {
    case "fixed":
      return ": ok\n\n";
    case "start":
      return new ReadableStream<Uint8Array>(
        heldWhileOpen((c: ReadableStreamDefaultController<Uint8Array>) => c.enqueue(OPEN_FRAME)),
        { highWaterMark: 0 },
      );
    case "pull": {
      let sent = false;
      return new ReadableStream<Uint8Array>(
        {
          ...heldWhileOpen(() => {}),
          pull: (c) => {
            if (!sent) c.enqueue(OPEN_FRAME);
            sent = true;
          },
        },
        { highWaterMark: 0 },
      );
    }
    case "bytes":
      return new ReadableStream({
        type: "bytes",
        ...heldWhileOpen((c: ReadableByteStreamController) => c.enqueue(OPEN_FRAME.slice())),
      });
    case "direct": {
      let controller: unknown;
      return new ReadableStream({
        type: "direct",
        pull: (c: { write(b: Uint8Array): void; flush(): void }) => {
          openControllers.add((controller = c));
          c.write(OPEN_FRAME);
          c.flush();
          return new Promise(() => {}); // stays open
        },
        cancel: () => void openControllers.delete(controller),
      } as unknown as UnderlyingDefaultSource<Uint8Array>);
    }
    default:
      throw new Error(`unknown VARIANT ${kind}`);
  }
}

const hub = new Hub();
const HUB_TOPICS = ["layers"];
const APP_HEADERS = { ...HEADERS, "X-Accel-Buffering": "no", "Access-Control-Allow-Origin": "*" };

/**
 * `start+<layer>+...`: the `start` body behind some of what the app does per open, to tell
 * what each costs: `headers` reads Last-Event-ID (the runtime then builds the request's
 * Headers), `hono` routes through a Hono app (the one `GET events` handler, as src/app.ts),
 * `token` verifies the Branca token and reads its subscription, `hub` makes the stream as
 * the app does (a SubscriberStream in a Hub, all on one topic, the app's four headers).
 */
function layeredFetch(name: string): FetchHandler {
  const [base, ...layers] = name.split("+");
  const unknown = layers.filter((l) => !["headers", "hono", "token", "hub"].includes(l));
  if (base !== "start" || unknown.length > 0) throw new Error(`unknown VARIANT ${name}`);
  const config = loadConfig({ SSE_SECRET: process.env.SSE_SECRET ?? "" });
  const branca = createBranca(config.secret);
  const answer = (token: string | undefined, lastEventId: string | null | undefined): Response => {
    if (layers.includes("token")) lastResult = parseSubscribe(branca.decode(token ?? ""), config).topics;
    if (lastEventId) lastResult = lastEventId;
    if (!layers.includes("hub")) return new Response(body("start"), { headers: HEADERS });
    const stream: SubscriberStream = new SubscriberStream(OPEN_FRAME, 100, () => hub.unsubscribe(stream, HUB_TOPICS));
    hub.subscribe(stream, HUB_TOPICS);
    return eventStreamResponse(stream, APP_HEADERS, undefined);
  };
  const readsHeaders = layers.includes("headers");
  if (layers.includes("hono")) {
    const app = new Hono().get("/events", (c) => answer(c.req.query("token"), readsHeaders ? c.req.header("last-event-id") : null));
    return (request) => app.fetch(request);
  }
  return (request) => {
    const url = request.url;
    const at = url.indexOf("token=");
    return answer(at < 0 ? undefined : url.slice(at + 6), readsHeaders ? request.headers.get("last-event-id") : null);
  };
}

// The line bench/run.ts and bench/idle-streams.ts wait for (the server's own log line says the same).
const announce = (port: number) => console.log(JSON.stringify({ msg: "listening", port }));
const host = "127.0.0.1";
const isBun = typeof Bun !== "undefined";
const isDeno = "Deno" in globalThis;

if (variant === "app") {
  // The real server, served the way each runtime's entry point serves it.
  const config = loadConfig({
    SSE_SECRET: process.env.SSE_SECRET ?? "", LOG_LEVEL: "silent", SSE_HEARTBEAT: "3600", HOST: host, PORT: "0",
  });
  const logger = createLogger("silent", () => {});
  const server = await createSseServer(config, logger);
  const { listen } = isBun
    ? { listen: (await import("../src/listen/bun.ts")).listenWithBun }
    : isDeno
      ? // A computed path: tsc (Bun's types) leaves the Deno-only module to `deno check`.
        { listen: (await import(`../src/listen/${"deno"}.ts`)).listenWithDeno as Listen }
      : { listen: (await import("../src/listen/node.ts")).listenWithNode };
  announce((await listen(server.fetch, config, logger)).port);
} else {
  const fetch = variant.includes("+") ? layeredFetch(variant) : () => new Response(body(), { headers: HEADERS });
  if (isBun) {
    announce(Bun.serve({ port: 0, hostname: host, fetch, idleTimeout: 0 }).port!);
  } else if (isDeno) {
    const deno = (globalThis as unknown as { Deno: { serve(o: object, f: FetchHandler): unknown } }).Deno;
    deno.serve({ port: 0, hostname: host, onListen: ({ port }: { port: number }) => announce(port) }, fetch);
  } else {
    const server = serve({ fetch, port: 0, hostname: host }, (info) => announce(info.port));
    Object.assign(server, { requestTimeout: 0, timeout: 0 });
  }
}

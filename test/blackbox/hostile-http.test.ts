/**
 * Hostile HTTP/1.1 requests (test/http/hostile-corpus.ts) against each runtime's real
 * server, over raw sockets: no hidden request is ever answered, the server keeps
 * serving, and one request's huge head never holds up another client. What each runtime
 * answered is printed, not asserted: runtimes differ on harmless oddities.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import {
  APP_STATUSES,
  HIDDEN_ANSWER_MARK,
  HOSTILE_CLASSES,
  HOSTILE_CORPUS,
  type HostileCase,
} from "../http/hostile-corpus.ts";
import { exchangeRaw, statusCodes, type RawExchange } from "../helpers/raw-http.ts";
import { ALL_SERVERS, startServer, type RunningServer, type ServerKind } from "../helpers/server.ts";

/** Cases in flight at once: enough to keep the quiet waits short overall, few enough for 2 cores. */
const PARALLEL = 6;

async function mapParallel<T, R>(items: readonly T[], limit: number, each: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const at = next++;
      results[at] = await each(items[at]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Where a runtime's own HTTP server is known to break the rule, by case id. Deno.serve
 * (hyper) takes a bare LF as the end of a header line (RFC 9112 lets a recipient do so,
 * but a front proxy that does not reads a different request) and a chunk size after a
 * space. These cases are asserted to still be answered, so the test fails once Deno is
 * fixed and the entry can go; README "HTTP on each runtime" names the remedy
 * (SSE_DENO_SERVER=node: Deno's node:http, on llhttp, which passes every case).
 */
const KNOWN_RUNTIME_FLAWS: Partial<Record<ServerKind, readonly string[]>> = {
  deno: [
    "bare LF/CR: LF hides Transfer-Encoding",
    "bare LF/CR: LF hides Transfer-Encoding, chunked first",
    "chunk size: leading space",
  ],
};

/** Why the answer to `hostile` breaks the rule of its kind, or undefined if it keeps it. */
function violation(hostile: HostileCase, exchange: RawExchange): string | undefined {
  if (hostile.notServedAsGet && exchange.received.includes("pong")) return "served as GET";
  const at = exchange.received.indexOf(HIDDEN_ANSWER_MARK);
  if (at === -1) return undefined;
  if (hostile.expect === "smuggle") return "the hidden request was answered";
  // Otherwise answered only as ordinary pipelining: second, after one answer to the first
  // request, and (after-error) an answer the app itself gave, not a refusal.
  // The last status before the mark is the hidden request's own answer.
  const before = statusCodes(exchange.received.slice(0, at))
    .filter((status) => status >= 200)
    .slice(0, -1);
  const refused = hostile.expect === "after-error" && before.some((status) => !APP_STATUSES.includes(status));
  if (before.length !== 1 || refused) return `the hidden request was answered after [${before.join(", ")}]`;
  return undefined;
}

const outcome = (exchange: RawExchange): string =>
  `${statusCodes(exchange.received).join(",") || "-"}${exchange.closedByServer ? " close" : ""}`;

async function ping(server: RunningServer): Promise<string> {
  try {
    const response = await fetch(`${server.url}/ping`, { signal: AbortSignal.timeout(5000) });
    return `${response.status} ${await response.text()}`;
  } catch (error) {
    return String(error);
  }
}

/** A head of 11,000 tiny header lines (about 64 KiB), as in the report that found a server stalled by one. */
const MANY_HEADERS = `GET /ping HTTP/1.1\r\nHost: h\r\n${"a:\r\n".repeat(11_000)}\r\n`;

/** Sends `bytes` and resolves once the server answered or closed: when, and what. */
function sendAndTime(port: number, bytes: string): { written: Promise<void>; settled: Promise<{ ms: number; outcome: string }> } {
  const socket = net.connect({ host: "127.0.0.1", port });
  const started = performance.now();
  let received = "";
  let wroteAll: () => void = () => {};
  const written = new Promise<void>((resolve) => (wroteAll = resolve));
  socket.once("connect", () => socket.write(Buffer.from(bytes, "latin1"), () => wroteAll()));
  socket.on("error", () => wroteAll());
  const settled = new Promise<{ ms: number; outcome: string }>((resolve) => {
    const done = (closed: boolean) => {
      resolve({ ms: performance.now() - started, outcome: outcome({ received, closedByServer: closed }) });
      socket.destroy();
    };
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (received.includes("\r\n\r\n")) done(false);
    });
    socket.once("close", () => done(true));
    setTimeout(() => done(false), 10_000).unref();
  });
  return { written, settled };
}

for (const kind of ALL_SERVERS) {
  describe(`${kind}: hostile HTTP/1.1 requests`, () => {
    let server: RunningServer;
    beforeAll(async () => void (server = await startServer(kind, { env: { SSE_HEARTBEAT: "3600" } })));
    afterAll(() => server.stop());

    test("the corpus has every class, 150 cases or more, each id once; known flaws name real cases", () => {
      for (const id of KNOWN_RUNTIME_FLAWS[kind] ?? []) expect(HOSTILE_CORPUS.map((c) => c.id)).toContain(id);
      expect(HOSTILE_CORPUS.length).toBeGreaterThanOrEqual(150);
      expect(new Set(HOSTILE_CORPUS.map((c) => c.id)).size).toBe(HOSTILE_CORPUS.length);
      expect(new Set(HOSTILE_CORPUS.map((c) => c.kind))).toEqual(new Set(HOSTILE_CLASSES));
    });

    for (const hostileClass of HOSTILE_CLASSES) {
      const cases = HOSTILE_CORPUS.filter((c) => c.kind === hostileClass);
      test(`${hostileClass} (${cases.length}): no hidden request answered, and the server keeps serving`, async () => {
        const results = await mapParallel(cases, PARALLEL, async (hostile) => {
          const exchange = await exchangeRaw(server.port, hostile.bytes);
          return { hostile, exchange, pingAfter: await ping(server) };
        });
        // What this runtime answered each case: a record, not an assertion.
        console.log(
          `${kind} / ${hostileClass}:\n${results.map((r) => `  ${outcome(r.exchange).padEnd(14)} ${r.hostile.id}`).join("\n")}`,
        );
        const known = KNOWN_RUNTIME_FLAWS[kind] ?? [];
        const broken = results.flatMap(({ hostile, exchange, pingAfter }) => {
          const wrong = violation(hostile, exchange);
          if (known.includes(hostile.id) && !wrong) return [`${hostile.id}: a known flaw of ${kind} is gone; drop it from KNOWN_RUNTIME_FLAWS`];
          return [
            ...(wrong && !known.includes(hostile.id)
              ? [`${hostile.id}: ${wrong}; received ${JSON.stringify(exchange.received.slice(0, 600))}`]
              : []),
            ...(pingAfter === "200 pong" ? [] : [`${hostile.id}: /ping afterwards gave ${pingAfter}`]),
          ];
        });
        expect(broken).toEqual([]);
      }, 120_000);
    }

    test("heads of 11,000 headers: another client's /ping is answered promptly meanwhile", async () => {
      for (let round = 0; round < 3; round++) {
        // Several at once, so that the server is still busy with them when the /ping arrives.
        const heavy = Array.from({ length: 4 }, () => sendAndTime(server.port, MANY_HEADERS));
        await Promise.all(heavy.map((h) => h.written));
        const light = sendAndTime(server.port, "GET /ping HTTP/1.1\r\nHost: h\r\n\r\n");
        const [pinged, ...answered] = await Promise.all([light.settled, ...heavy.map((h) => h.settled)]);
        console.log(
          `${kind}: 4 × 11,000 headers → ${answered.map((a) => `${a.outcome} in ${a.ms.toFixed(0)} ms`).join(", ")}; ` +
            `/ping meanwhile → ${pinged!.outcome} in ${pinged!.ms.toFixed(0)} ms`,
        );
        expect(pinged!.outcome).toBe("200");
        // A liveness bound, generous for a shared 2-core machine: a stalled server took seconds.
        expect(pinged!.ms).toBeLessThan(1000);
        for (const a of answered) expect(a.ms).toBeLessThan(5000);
      }
    }, 60_000);
  });
}

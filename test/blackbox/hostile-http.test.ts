/**
 * Hostile HTTP/1.1 requests (test/http/hostile-corpus.ts) against each runtime's real
 * server, over raw sockets. Twice: with a hidden `GET /metrics`, no hidden request is ever
 * answered where it is hidden; with a hidden `POST /submit`, none ever runs (its event
 * never reaches a subscribed stream). The server keeps serving, and one request's huge head
 * never holds up another client. What each runtime answered is summed up, not asserted:
 * runtimes differ on harmless oddities.
 *
 * A marker request follows each case: HTTP/1.1 answers come in order, so any answer to the
 * hidden request comes before the marker's, and a case ends when the marker's answer comes
 * or the server closes. Only a case whose body swallows the rest (a huge length the server
 * waits for) ends by going quiet; those are listed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import {
  APP_STATUSES,
  HIDDEN_ANSWER_MARK,
  HIDDEN_GET,
  HOSTILE_CLASSES,
  hostileCorpus,
  type HostileCase,
} from "../http/hostile-corpus.ts";
import { exchangeRaw, statusCodes, type RawExchange } from "../helpers/raw-http.ts";
import { eventsUrl, ALL_SERVERS, startServer, type RunningServer, type ServerKind } from "../helpers/server.ts";
import { openStream } from "../helpers/sse.ts";
import { submitToken, subscribeToken } from "../helpers/tokens.ts";

/** Cases in flight at once: enough to keep the waits short overall, few enough for 2 cores. */
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

const HOSTILE_CORPUS = hostileCorpus(HIDDEN_GET);

/** The topic of the hidden `POST /submit`s' events: one arriving means a hidden request ran. */
const CANARY_TOPIC = "hidden-canary";
const canaryRequest = (id: string) => {
  const token = submitToken([{ topic: CANARY_TOPIC, event: "", data: id }]);
  return `POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: ${token.length}\r\n\r\n${token}`;
};
/** Each case's hidden `POST /submit`, whose event's data is the case's id. */
const CANARY_REQUESTS = new Map(HOSTILE_CORPUS.map(({ id }) => [id, canaryRequest(id)]));
/** Each case with its hidden `POST /submit`. */
const CANARY_CORPUS: readonly HostileCase[] = HOSTILE_CORPUS.map(
  ({ id }) => hostileCorpus(CANARY_REQUESTS.get(id)!).find((c) => c.id === id)!,
);

/** Sent after each case; `live` starts no other answer's body (`pong`, `not found`, `# HELP`, errors). */
const MARKER = "GET /health/live HTTP/1.1\r\nHost: h\r\n\r\n";
const markerAnswered = (received: string) => received.includes("\r\n\r\nlive");

/** One case sent, marker after it: ends at the marker's answer or the server's close; quiet only as the fallback. */
const exchangeCase = (server: RunningServer, hostile: HostileCase) =>
  exchangeRaw(server.port, hostile.bytes + MARKER, { done: markerAnswered, quietMs: 2000, maxMs: 10_000 });

/**
 * Where a runtime's own HTTP server is known to break the rule, by case id. Deno.serve
 * (hyper) takes a bare LF as the end of a header line (RFC 9112 lets a recipient do so,
 * but a front proxy that does not reads a different request) and a chunk size after a
 * space. These cases are asserted to still be answered, and their hidden `POST /submit`
 * to still run, so the test fails once Deno is fixed and the entry can go; README "HTTP
 * on each runtime" names the remedy (SSE_DENO_SERVER=node: Deno's node:http, on llhttp,
 * which passes every case).
 */
const KNOWN_RUNTIME_FLAWS: Partial<Record<ServerKind, readonly string[]>> = {
  deno: [
    "bare LF/CR: LF hides Transfer-Encoding",
    "bare LF/CR: LF hides Transfer-Encoding, chunked first",
    "chunk size: leading space",
  ],
};

const finalStatuses = (received: string) => statusCodes(received).filter((status) => status >= 200);

/**
 * A `smuggle` case gets one final answer for its first request, and one for the marker if
 * that came: more is a partial desync (some of the hidden bytes read as a request). One
 * more is explained: a server may answer `POST /ping` before reading its body (the app
 * never reads it; Bun does so), then refuse that body's framing, and close.
 */
function extraAnswers(hostile: HostileCase, exchange: RawExchange): string | undefined {
  if (hostile.expect !== "smuggle") return undefined;
  const finals = finalStatuses(exchange.received);
  const marker = markerAnswered(exchange.received);
  const bodyRefused =
    !marker && exchange.end === "closed" && finals.length === 2 && APP_STATUSES.includes(finals[0]!) && finals[1]! >= 400;
  const explained = 1 + (marker || bodyRefused ? 1 : 0);
  return finals.length > explained ? `${finals.length} answers [${finals.join(", ")}] where ${explained} can be explained` : undefined;
}

/** Why the answer to `hostile` (hidden `GET /metrics`) breaks the rule of its kind, or undefined if it keeps it. */
function answerViolation(hostile: HostileCase, exchange: RawExchange): string | undefined {
  if (hostile.notServedAsGet && exchange.received.includes("pong")) return "served as GET";
  const at = exchange.received.indexOf(HIDDEN_ANSWER_MARK);
  if (at === -1) return extraAnswers(hostile, exchange);
  if (hostile.expect === "smuggle") return "the hidden request was answered";
  // Otherwise answered only as ordinary pipelining: second, after one answer to the first
  // request, and (after-error) an answer the app itself gave, not a refusal.
  // The last status before the mark is the hidden request's own answer.
  const before = finalStatuses(exchange.received.slice(0, at)).slice(0, -1);
  const refused = hostile.expect === "after-error" && before.some((status) => !APP_STATUSES.includes(status));
  if (before.length !== 1 || refused) return `the hidden request was answered after [${before.join(", ")}]`;
  return undefined;
}

/** Why running the hidden `POST /submit` (`ran`) breaks the rule of its kind, or undefined if it keeps it. */
function executionViolation(hostile: HostileCase, exchange: RawExchange, ran: boolean): string | undefined {
  if (!ran) return extraAnswers(hostile, exchange);
  if (hostile.expect === "smuggle") return "the hidden request ran";
  const first = finalStatuses(exchange.received)[0];
  if (hostile.expect === "after-error" && (first === undefined || !APP_STATUSES.includes(first)))
    return `the hidden request ran after the first got ${first ?? "no answer"}`;
  return undefined;
}

const outcome = (exchange: RawExchange): string =>
  `${statusCodes(exchange.received).join(",") || "-"} ${exchange.end === "done" ? "marker" : exchange.end}`;

/**
 * The plain outcomes: refused (with an error or none) and closed; every request up to the
 * marker answered by the app; or the first answered by the app (before its body was read),
 * then refused and closed.
 */
function plainOutcome(exchange: RawExchange): string | undefined {
  const finals = finalStatuses(exchange.received);
  const byApp = (status: number) => APP_STATUSES.includes(status);
  if (exchange.end === "closed" && !finals.some(byApp)) return "refused+closed";
  if (exchange.end === "done" && finals.every(byApp)) return "answered normally";
  if (exchange.end === "closed" && finals.length === 2 && byApp(finals[0]!) && !byApp(finals[1]!)) return "answered, then refused+closed";
  return undefined;
}

/** One line of counts per class, then each case whose outcome is none of the plain ones. */
function summary(label: string, results: readonly { hostile: HostileCase; exchange: RawExchange }[]): string {
  const counts = new Map<string, number>();
  const ends = new Map<string, number>();
  const odd: string[] = [];
  for (const { hostile, exchange } of results) {
    const plain = plainOutcome(exchange);
    counts.set(plain ?? "other", (counts.get(plain ?? "other") ?? 0) + 1);
    const end = exchange.end === "done" ? "marker" : exchange.end;
    ends.set(end, (ends.get(end) ?? 0) + 1);
    if (!plain) odd.push(`  ${outcome(exchange).padEnd(22)} ${hostile.id}`);
  }
  const list = (m: Map<string, number>) => [...m].map(([k, v]) => `${k} ${v}`).join(", ");
  return [`${label} (${results.length}): ${list(counts)}; ended by ${list(ends)}`, ...odd].join("\n");
}

interface CaseResult {
  readonly hostile: HostileCase;
  readonly exchange: RawExchange;
  /** `/ping` on a fresh connection once the case ended. */
  readonly pingAfter: string;
}

/** Each broken rule: a violation outside the known flaws, a known flaw gone, a server that stopped serving. */
function breaches(kind: ServerKind, results: readonly CaseResult[], violation: (result: CaseResult) => string | undefined): string[] {
  const known = KNOWN_RUNTIME_FLAWS[kind] ?? [];
  return results.flatMap((result) => {
    const { hostile, exchange, pingAfter } = result;
    const wrong = violation(result);
    const isKnown = known.includes(hostile.id);
    return [
      ...(isKnown && !wrong ? [`${hostile.id}: a known flaw of ${kind} is gone; drop it from KNOWN_RUNTIME_FLAWS`] : []),
      ...(wrong && !isKnown ? [`${hostile.id}: ${wrong}; received ${JSON.stringify(exchange.received.slice(0, 600))}`] : []),
      ...(pingAfter === "200 pong" ? [] : [`${hostile.id}: /ping afterwards gave ${pingAfter}`]),
    ];
  });
}

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
      resolve({ ms: performance.now() - started, outcome: `${statusCodes(received).join(",") || "-"}${closed ? " close" : ""}` });
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

test("statusCodes reads every status line, with a reason phrase or without", () => {
  expect(statusCodes("HTTP/1.1 400\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\n\r\nHTTP/1.0 404 \r\n\r\n")).toEqual([400, 200, 404]);
});

for (const kind of ALL_SERVERS) {
  describe(`${kind}: hostile HTTP/1.1 requests`, () => {
    let server: RunningServer;
    beforeAll(async () => void (server = await startServer(kind, { env: { SSE_HEARTBEAT: "3600" } })));
    afterAll(() => server.stop());

    test("the corpus has every class, 150 cases or more, each id once, each hidden request once; known flaws name real cases", () => {
      for (const id of KNOWN_RUNTIME_FLAWS[kind] ?? []) expect(HOSTILE_CORPUS.map((c) => c.id)).toContain(id);
      expect(HOSTILE_CORPUS.length).toBeGreaterThanOrEqual(150);
      expect(new Set(HOSTILE_CORPUS.map((c) => c.id)).size).toBe(HOSTILE_CORPUS.length);
      expect(new Set(HOSTILE_CORPUS.map((c) => c.kind))).toEqual(new Set(HOSTILE_CLASSES));
      // Each case carries its hidden request once, whichever it is.
      expect(HOSTILE_CORPUS.filter((c) => c.bytes.split(HIDDEN_GET).length !== 2).map((c) => c.id)).toEqual([]);
      expect(CANARY_CORPUS.map((c) => c.id)).toEqual(HOSTILE_CORPUS.map((c) => c.id));
      expect(CANARY_CORPUS.filter((c) => c.bytes.split(CANARY_REQUESTS.get(c.id)!).length !== 2).map((c) => c.id)).toEqual([]);
    });

    // node:http hands node-server such a target as the URL, which Node's Request refuses.
    test("an absolute-form target with credentials is the client's mistake: never a 500", async () => {
      const token = submitToken([{ topic: "credentials", event: "", data: "x" }]);
      for (const target of ["http://a@h/submit", "http://a:b@h/submit", "http://a@h/ping"]) {
        const method = target.endsWith("submit") ? "POST" : "GET";
        const request = `${method} ${target} HTTP/1.1\r\nHost: h\r\nContent-Length: ${token.length}\r\n\r\n${token}`;
        const exchange = await exchangeRaw(server.port, request + MARKER, { done: markerAnswered });
        const [status] = finalStatuses(exchange.received);
        expect({ target, server: status! < 500 }).toEqual({ target, server: true });
      }
      if (kind === "node" || kind === "deno-node") {
        const exchange = await exchangeRaw(server.port, `GET http://a@h/ping HTTP/1.1\r\nHost: h\r\n\r\n${MARKER}`, { done: markerAnswered });
        expect(finalStatuses(exchange.received)).toEqual([400, 200]);
      }
    });

    // Deno.serve makes the URL from the Host header as sent.
    test("a Host header that is not a host never reroutes a request", async () => {
      for (const host of ["h/submit?", "h/metrics#", "h/metrics?", "a@h/metrics?"]) {
        const exchange = await exchangeRaw(server.port, `GET /nothing-here HTTP/1.1\r\nHost: ${host}\r\n\r\n${MARKER}`, { done: markerAnswered });
        const [status] = finalStatuses(exchange.received);
        expect({ host, refusedOrNotFound: status === 400 || status === 404 }).toEqual({ host, refusedOrNotFound: true });
      }
      for (const host of ["h", "h:8000", "127.0.0.1:1", "[::1]:80", "x.example"]) {
        const exchange = await exchangeRaw(server.port, `GET /ping HTTP/1.1\r\nHost: ${host}\r\n\r\n${MARKER}`, { done: markerAnswered });
        expect({ host, statuses: finalStatuses(exchange.received) }).toEqual({ host, statuses: [200, 200] });
      }
    });

    test("the marker's answer is told apart and ends a case", async () => {
      const plain = await exchangeRaw(server.port, `GET /ping HTTP/1.1\r\nHost: h\r\n\r\n${MARKER}`, { done: markerAnswered });
      expect({ end: plain.end, statuses: statusCodes(plain.received) }).toEqual({ end: "done", statuses: [200, 200] });
    });

    for (const hostileClass of HOSTILE_CLASSES) {
      const cases = HOSTILE_CORPUS.filter((c) => c.kind === hostileClass);
      test(`${hostileClass} (${cases.length}): no hidden request answered, and the server keeps serving`, async () => {
        const results = await mapParallel(cases, PARALLEL, async (hostile) => {
          const exchange = await exchangeCase(server, hostile);
          return { hostile, exchange, pingAfter: await ping(server) };
        });
        // What this runtime answered: a record, not an assertion.
        console.log(summary(`${kind} / ${hostileClass}`, results));
        expect(breaches(kind, results, (r) => answerViolation(r.hostile, r.exchange))).toEqual([]);
      }, 120_000);
    }

    test("no hidden POST /submit runs where it is hidden, and the server keeps serving", async () => {
      const stream = await openStream(eventsUrl(server, subscribeToken([CANARY_TOPIC])));
      try {
        expect(stream.response.status).toBe(200);
        const results = await mapParallel(CANARY_CORPUS, PARALLEL, async (hostile) => {
          const exchange = await exchangeCase(server, hostile);
          return { hostile, exchange, pingAfter: await ping(server) };
        });
        // A last event, submitted once every case has ended: the hub delivers in order, so
        // every hidden request that ran before it has been delivered once it comes.
        const last = submitToken([{ topic: CANARY_TOPIC, event: "", data: "all cases sent" }]);
        expect((await fetch(`${server.url}/submit`, { method: "POST", body: last })).status).toBe(200);
        const ran = new Set<string>();
        for (;;) {
          const [event] = await stream.next(1, 10_000);
          if (event!.data === "all cases sent") break;
          ran.add(event!.data);
        }
        // A hidden request still being handled when its connection closed could publish
        // later: a short grace collects it too.
        await new Promise((resolve) => setTimeout(resolve, 300));
        for (const event of stream.pending) ran.add(event.data);
        expect([...ran].filter((id) => !CANARY_CORPUS.some((c) => c.id === id))).toEqual([]);
        // Which hidden requests ran: counted by expectation, named unless merely pipelined.
        const ranCases = results.filter((r) => ran.has(r.hostile.id)).map((r) => r.hostile);
        const count = (expect: string) => ranCases.filter((c) => c.expect === expect).length;
        console.log(
          `${kind}: hidden POST /submit ran in ${ranCases.length} of ${results.length} cases ` +
            `(pipelined ${count("pipelined")}, after-error ${count("after-error")}, smuggle ${count("smuggle")})` +
            ranCases.filter((c) => c.expect !== "pipelined").map((c) => `\n  ran (${c.expect}): ${c.id}`).join(""),
        );
        expect(breaches(kind, results, (r) => executionViolation(r.hostile, r.exchange, ran.has(r.hostile.id)))).toEqual([]);
      } finally {
        stream.close();
      }
    }, 120_000);

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

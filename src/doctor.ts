/**
 * `sse-server doctor`: checks that the path from a public URL to the server (proxies,
 * CDNs, middleware) carries event streams as they are sent. It is a client: it opens a
 * stream through the URL, publishes through the same URL, and times what arrives.
 * Portable (fetch and ReadableStream only).
 */
import { createParser } from "eventsource-parser";
import type { SseClient } from "./client.ts";

export type Verdict = "ok" | "warn" | "fail";

export interface Finding {
  readonly check: string;
  readonly verdict: Verdict;
  /** What was seen, in plain words. */
  readonly detail: string;
  /** The usual fix, for a warn or fail. */
  readonly fix?: string;
}

export interface DoctorOptions {
  /** Mints the tokens and publishes; its URL is the path under test. */
  readonly client: SseClient;
  /** How long to keep a stream idle, watching for heartbeats and a cut (seconds). */
  readonly idleSeconds: number;
  /** Longest wait for the first byte or a published event (ms). */
  readonly waitMs?: number;
  /**
   * Which HTTP version a browser gets from the URL; it takes a raw socket, which the
   * runtime's adapter (listen/http-version.ts) provides. Without it the check says so.
   */
  readonly httpVersion?: () => Promise<HttpVersionSeen>;
}

export interface HttpVersionSeen {
  /** "HTTP/2", "HTTP/1.1", "HTTP/1.0". */
  readonly version: string;
  /** How it was seen: "TLS ALPN" or "status line". */
  readonly by: string;
  readonly tls: boolean;
}

/** An event arriving later than this after its publish is held back somewhere. */
const PROMPT_MS = 1000;

interface Arrival {
  readonly at: number;
  readonly kind: "comment" | "event" | "end";
  readonly data?: string;
  readonly id?: string;
}

/** A stream read in the background; every frame (comments included) is timed. */
class WatchedStream {
  readonly arrivals: Arrival[] = [];
  firstByteAt: number | undefined;
  #waiters: (() => void)[] = [];
  readonly #controller = new AbortController();

  constructor(readonly response: Response) {
    void this.#read();
  }

  async #read(): Promise<void> {
    const parser = createParser({
      onEvent: (m) => this.#push({ at: performance.now(), kind: "event", data: m.data, id: m.id }),
      onComment: () => this.#push({ at: performance.now(), kind: "comment" }),
    });
    const decoder = new TextDecoder();
    const reader = this.response.body!.getReader();
    this.#controller.signal.addEventListener("abort", () => void reader.cancel().catch(() => {}));
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.firstByteAt ??= performance.now();
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } catch {
      // cut or cancelled: either way the stream has ended
    }
    this.#push({ at: performance.now(), kind: "end" });
  }

  #push(arrival: Arrival): void {
    this.arrivals.push(arrival);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Resolves with the first arrival from `from` on that matches, or undefined after `timeoutMs`. */
  async waitFor(match: (a: Arrival) => boolean, timeoutMs: number, from = 0): Promise<Arrival | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.arrivals.slice(from).find(match);
      if (found || this.ended) return found;
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  get ended(): boolean {
    return this.arrivals.some((a) => a.kind === "end");
  }

  close(): void {
    this.#controller.abort();
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const millis = (ms: number) => `${Math.round(ms)} ms`;

const FIX_BUFFERING =
  "turn response buffering off for the stream: nginx `proxy_buffering off;` (or keep the server's `X-Accel-Buffering: no` header: do not `proxy_ignore_headers` it), `proxy_http_version 1.1;`; on a CDN, bypass its cache/buffer for this path";
const FIX_GZIP = "do not compress text/event-stream: nginx `gzip off;` in this location (or leave text/event-stream out of `gzip_types`); compression middleware: exclude this content type";
const FIX_IDLE =
  "raise the proxy's idle timeout above SSE_HEARTBEAT (nginx `proxy_read_timeout`, e.g. 3600s), or set SSE_HEARTBEAT below the proxy's timeout";

/** Runs every check; one Finding each, in a fixed order. */
export async function diagnose(options: DoctorOptions): Promise<Finding[]> {
  const { client } = options;
  const waitMs = options.waitMs ?? 4000;
  const findings: Finding[] = [];
  const topic = `doctor-${crypto.randomUUID()}`;

  const opened = performance.now();
  let response: Response;
  try {
    response = await fetch(client.subscribeUrl([topic]), { signal: AbortSignal.timeout(waitMs + 1000) });
  } catch (error) {
    // The server answers at once; a path that buffers whole responses never does.
    if ((error as Error).name === "TimeoutError") {
      return [{ check: "first byte", verdict: "fail", detail: `held back: no response within ${seconds(waitMs + 1000)} (the server answers at once)`, fix: FIX_BUFFERING }];
    }
    return [{ check: "stream", verdict: "fail", detail: `no answer: ${(error as Error).message}`, fix: "check the URL and that the server runs behind it" }];
  }
  if (!response.ok || !response.body) {
    const text = (await response.text().catch(() => "")).trim().slice(0, 200);
    return [{ check: "stream", verdict: "fail", detail: `events answered ${response.status}: ${text}`, fix: "check the URL (base path included) and SSE_SECRET" }];
  }
  const stream = new WatchedStream(response);
  try {
    findings.push(...checkHeaders(response.headers), await checkHttpVersion(options.httpVersion));
    await stream.waitFor(() => true, waitMs);
    findings.push(
      stream.firstByteAt === undefined
        ? { check: "first byte", verdict: "fail", detail: `held back: nothing within ${seconds(waitMs)} (the server sends one at once)`, fix: FIX_BUFFERING }
        : stream.firstByteAt - opened > PROMPT_MS
          ? { check: "first byte", verdict: "fail", detail: `after ${millis(stream.firstByteAt - opened)}`, fix: FIX_BUFFERING }
          : { check: "first byte", verdict: "ok", detail: `after ${millis(stream.firstByteAt - opened)}` },
    );

    const first = await publishAndTime(client, stream, topic, "first", waitMs);
    findings.push(first.finding);
    findings.push(await checkResume(client, topic, first.id, waitMs));
    findings.push(...(await checkIdle(stream, options.idleSeconds)));
  } finally {
    stream.close();
  }
  return findings;
}

function checkHeaders(headers: Headers): Finding[] {
  const type = headers.get("content-type") ?? "";
  const cache = headers.get("cache-control") ?? "";
  const encoding = headers.get("content-encoding") ?? "";
  const accel = headers.get("x-accel-buffering");
  const length = headers.get("content-length");
  return [
    type.startsWith("text/event-stream")
      ? { check: "Content-Type", verdict: "ok", detail: type }
      : { check: "Content-Type", verdict: "fail", detail: type || "(none)", fix: "the proxy must pass the server's Content-Type: text/event-stream through" },
    /no-cache|no-store/.test(cache)
      ? { check: "Cache-Control", verdict: "ok", detail: cache }
      : { check: "Cache-Control", verdict: "warn", detail: cache || "(none)", fix: "pass the server's `Cache-Control: no-cache` through, or a cache may hold the stream" },
    encoding === "" || encoding === "identity"
      ? { check: "compression", verdict: "ok", detail: "none (no Content-Encoding)" }
      : { check: "compression", verdict: "fail", detail: `Content-Encoding: ${encoding}: a compressor may hold events until its buffer fills`, fix: FIX_GZIP },
    {
      check: "X-Accel-Buffering",
      verdict: "ok",
      detail: accel ?? "absent (the server sends `no`; nginx reads and drops it, as it should)",
    },
    length === null
      ? { check: "framing", verdict: "ok", detail: `no Content-Length${headers.get("transfer-encoding") ? ` (Transfer-Encoding: ${headers.get("transfer-encoding")})` : ""}` }
      : { check: "framing", verdict: "fail", detail: `Content-Length: ${length}: the stream was collected whole`, fix: FIX_BUFFERING },
  ];
}

const FIX_HTTP2 =
  "enable HTTP/2 on the TLS listener (nginx `listen 443 ssl http2;`; Caddy does by default): under HTTP/1.1 a browser holds at most 6 streams per host across all its tabs";

/** HTTP/2 lets a browser hold any number of streams to one host; HTTP/1.1, six. */
async function checkHttpVersion(probe: DoctorOptions["httpVersion"]): Promise<Finding> {
  const check = "HTTP version";
  // fetch does not tell which protocol carried the answer; say so rather than guess.
  if (!probe) return { check, verdict: "ok", detail: "not observable here (under HTTP/1.1 a browser opens at most 6 streams per host; HTTP/2 lifts that)" };
  let seen: HttpVersionSeen;
  try {
    seen = await probe();
  } catch (error) {
    return { check, verdict: "warn", detail: `could not tell: ${(error as Error).message}` };
  }
  const detail = `${seen.version} (${seen.by})`;
  if (seen.version === "HTTP/2" || seen.version === "HTTP/3") return { check, verdict: "ok", detail: `${detail}: streams share one connection, no per-host limit` };
  if (seen.version === "HTTP/1.0") return { check, verdict: "warn", detail: `${detail}: no keep-alive, no chunked streams`, fix: FIX_HTTP2 };
  if (seen.tls) return { check, verdict: "warn", detail: `${detail}: the TLS listener does not offer HTTP/2`, fix: FIX_HTTP2 };
  return { check, verdict: "ok", detail: `${detail}: plain http, where browsers speak HTTP/1.1 only (at most 6 streams per host; over HTTPS, HTTP/2 lifts that)` };
}

/** Publishes one event through the URL and times its arrival on the stream. */
async function publishAndTime(client: SseClient, stream: WatchedStream, topic: string, data: string, waitMs: number): Promise<{ finding: Finding; id?: string }> {
  const from = stream.arrivals.length;
  const sent = performance.now();
  try {
    await client.publish({ topic, event: "doctor", data });
  } catch (error) {
    return { finding: { check: "event delay", verdict: "fail", detail: `publish failed: ${(error as Error).message}`, fix: "check that POST submit reaches the server through this URL" } };
  }
  const arrival = await stream.waitFor((a) => a.kind === "event" && a.data === data, waitMs, from);
  if (!arrival) {
    return { finding: { check: "event delay", verdict: "fail", detail: `held back: not arrived within ${seconds(waitMs)}${stream.ended ? " (the stream ended)" : ""}`, fix: FIX_BUFFERING } };
  }
  const delay = arrival.at - sent;
  return {
    id: arrival.id,
    finding:
      delay > PROMPT_MS
        ? { check: "event delay", verdict: "fail", detail: `${millis(delay)} from publish to arrival`, fix: FIX_BUFFERING }
        : { check: "event delay", verdict: "ok", detail: `${millis(delay)} from publish to arrival` },
  };
}

/** A fresh stream with `Last-Event-ID` must get what was published after that id. */
async function checkResume(client: SseClient, topic: string, lastId: string | undefined, waitMs: number): Promise<Finding> {
  if (lastId === undefined) {
    return { check: "resume", verdict: "warn", detail: "not checked: no event arrived with an id", fix: "events carry ids when history is on (SSE_HISTORY_SIZE > 0)" };
  }
  try {
    await client.publish({ topic, event: "doctor", data: "missed" });
  } catch (error) {
    return { check: "resume", verdict: "fail", detail: `publish failed: ${(error as Error).message}` };
  }
  let response: Response;
  try {
    response = await fetch(client.subscribeUrl([topic]), { headers: { "Last-Event-ID": lastId }, signal: AbortSignal.timeout(waitMs + 1000) });
  } catch (error) {
    return { check: "resume", verdict: "fail", detail: `no answer: ${(error as Error).message}` };
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    return { check: "resume", verdict: "fail", detail: `answered ${response.status}` };
  }
  const stream = new WatchedStream(response);
  try {
    const replayed = await stream.waitFor((a) => a.kind === "event" && a.data === "missed", waitMs);
    return replayed
      ? { check: "resume", verdict: "ok", detail: "Last-Event-ID got the missed event replayed" }
      : { check: "resume", verdict: "fail", detail: `the missed event did not arrive within ${seconds(waitMs)}`, fix: "the proxy must pass the Last-Event-ID request header through (and not buffer)" };
  } finally {
    stream.close();
  }
}

/** Keeps the stream idle: heartbeats should arrive at their interval, and nothing should cut it. */
async function checkIdle(stream: WatchedStream, idleSeconds: number): Promise<Finding[]> {
  const from = stream.arrivals.length;
  const start = stream.arrivals.at(-1)?.at ?? performance.now();
  await stream.waitFor((a) => a.kind === "end", idleSeconds * 1000, from);
  const seen = stream.arrivals.slice(from);
  const beats = seen.filter((a) => a.kind === "comment").map((a) => a.at);
  const end = seen.find((a) => a.kind === "end");

  const findings: Finding[] = [];
  if (beats.length === 0) {
    findings.push({
      check: "heartbeats",
      verdict: "warn",
      detail: `none in ${seconds(idleSeconds * 1000)} idle`,
      fix: `fine if SSE_HEARTBEAT is longer than that; else something holds them back (${FIX_BUFFERING})`,
    });
  } else {
    const gaps = beats.map((at, i) => at - (i === 0 ? start : beats[i - 1]!));
    // A burst (several within a few ms after a long silence) is a buffer being flushed.
    const bunched = gaps.slice(1).some((gap) => gap < 50);
    const summary = `${beats.length} in ${seconds(idleSeconds * 1000)}, gaps ${gaps.map((g) => seconds(g)).join(", ")}`;
    findings.push(
      bunched
        ? { check: "heartbeats", verdict: "fail", detail: `arrive in bursts: ${summary}`, fix: FIX_BUFFERING }
        : { check: "heartbeats", verdict: "ok", detail: summary },
    );
  }
  findings.push(
    end
      ? { check: "idle cut", verdict: "fail", detail: `the stream was cut after ${seconds(end.at - (beats.at(-1) ?? start))} without data`, fix: FIX_IDLE }
      : { check: "idle cut", verdict: "ok", detail: `still open after ${seconds(idleSeconds * 1000)} idle` },
  );
  return findings;
}

/** One line per check: `ok   check: detail`, then `     fix: …` under a problem. */
export function formatFindings(findings: readonly Finding[]): string {
  const lines: string[] = [];
  for (const f of findings) {
    lines.push(`${f.verdict.padEnd(4)} ${f.check}: ${f.detail}`);
    if (f.fix && f.verdict !== "ok") lines.push(`     fix: ${f.fix}`);
  }
  const failed = findings.filter((f) => f.verdict === "fail").length;
  lines.push(failed === 0 ? "verdict: the path carries event streams well" : `verdict: ${failed} problem${failed === 1 ? "" : "s"} on the path`);
  return lines.join("\n");
}

export const passed = (findings: readonly Finding[]) => findings.every((f) => f.verdict !== "fail");

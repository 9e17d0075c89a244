/**
 * The browser client's pure parts under Bun: its SSE parser against `eventsource-parser`
 * (written by others, widely deployed) over arbitrary inputs and chunkings, and the backoff.
 */
import { describe, expect, test } from "bun:test";
import { createParser } from "eventsource-parser";
import fc from "fast-check";
import { backoffDelay, createSseParser, type SseMessage } from "../../src/browser/client.js";
import { ROOT, runProcess } from "../helpers/server.ts";

interface Parsed {
  readonly events: { id?: string; event?: string; data: string }[];
  readonly retries: number[];
}

function parseOurs(chunks: readonly string[]): Parsed & { ids: (string | undefined)[] } {
  const events: Parsed["events"] = [];
  const retries: number[] = [];
  const ids: (string | undefined)[] = [];
  const parser = createSseParser(
    (m: SseMessage) => {
      ids.push(m.id);
      if (m.data !== undefined) events.push({ id: m.id, event: m.event, data: m.data });
    },
    (ms) => retries.push(ms),
  );
  for (const chunk of chunks) parser.feed(chunk);
  return { events, retries, ids };
}

function parseTheirs(chunks: readonly string[]): Parsed {
  const events: Parsed["events"] = [];
  const retries: number[] = [];
  const parser = createParser({
    onEvent: (e) => events.push({ id: e.id, event: e.event, data: e.data }),
    onRetry: (ms) => retries.push(ms),
  });
  for (const chunk of chunks) parser.feed(chunk);
  return { events, retries };
}

/** Cuts `text` at the given fractions of its length. */
function cut(text: string, fractions: readonly number[]): string[] {
  const points = [...new Set(fractions.map((f) => Math.floor(f * text.length)))].sort((a, b) => a - b);
  const chunks: string[] = [];
  let from = 0;
  for (const point of points) {
    chunks.push(text.slice(from, point));
    from = point;
  }
  chunks.push(text.slice(from));
  return chunks;
}

/** Lines built from the pieces that matter to the grammar, joined by every kind of line break. */
const piece = fc.constantFrom("data", "event", "id", "retry", "dat", ":", ": ", " ", "x", "é", "1", "42", "\0", "ok", "data:", "id:");
const line = fc.array(piece, { maxLength: 5 }).map((parts) => parts.join(""));
const lineBreak = fc.constantFrom("\n", "\r", "\r\n");
const stream = fc
  .array(fc.tuple(line, lineBreak), { maxLength: 40 })
  .map((lines) => lines.map(([text, end]) => text + end).join(""));
const fractions = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

describe("the SSE parser", () => {
  test("dispatches what eventsource-parser dispatches, for any input cut anywhere", () => {
    fc.assert(
      fc.property(stream, fractions, (lines, at) => {
        // eventsource-parser holds back a CR that ends its input (it may start a CRLF);
        // ours dispatches at once, as browsers do. An unfinished line after it settles that.
        const text = `${lines}x`;
        const theirs = parseTheirs([text]);
        const ours = parseOurs(cut(text, at));
        expect({ events: ours.events, retries: ours.retries }).toEqual(theirs);
      }),
      { numRuns: 3000 },
    );
  });

  test("a CR at the end of one chunk and an LF at the start of the next are one line break", () => {
    const ours = parseOurs(["data: a\r", "\ndata: b\r", "\n\r", "\n"]);
    expect(ours.events).toEqual([{ id: undefined, event: undefined, data: "a\nb" }]);
  });

  test("a message with an id and no data sets the id without an event (the server's opening frame)", () => {
    const ours = parseOurs([": ok\nid: 17\n\n", "id: 18\nevent: x\ndata: y\n\n"]);
    expect(ours.ids).toEqual(["17", "18"]);
    expect(ours.events).toEqual([{ id: "18", event: "x", data: "y" }]);
  });

  test("an unfinished message is not dispatched; retry needs digits only", () => {
    const ours = parseOurs(["retry: 1500\nretry: 2s\nretry: -1\n", "data: half"]);
    expect(ours).toEqual({ events: [], retries: [1500], ids: [] });
  });
});

describe("the backoff", () => {
  const options = { baseMs: 1000, capMs: 30_000 };

  test("after a stream that worked: the server's retry, or a jitter up to the base", () => {
    expect(backoffDelay(0, { ...options, serverRetryMs: 4321 }, () => 0.9)).toBe(4321);
    expect(backoffDelay(0, options, () => 0.5)).toBe(500);
  });

  test("after failures: full jitter under base·2^failures, capped", () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, options, () => 0.999999))).toEqual([1999, 3999, 7999, 15999]);
    expect(backoffDelay(10, options, () => 0.999999)).toBe(29999);
    expect(backoffDelay(1000, options, () => 0.5)).toBe(15000);
    expect(backoffDelay(3, options, () => 0)).toBe(0);
  });

  test("never below the server's retry, however lucky the draw", () => {
    expect(backoffDelay(5, { ...options, serverRetryMs: 2500 }, () => 0)).toBe(2500);
    expect(backoffDelay(5, { ...options, serverRetryMs: 2500 }, () => 0.5)).toBe(15000);
  });
});

test("the module's JSDoc types check against the DOM (tsconfig.browser.json)", async () => {
  const tsc = await runProcess(`${ROOT}node_modules/.bin/tsc`, ["-p", `${ROOT}tsconfig.browser.json`], {}, 60_000);
  expect(tsc).toMatchObject({ code: 0, stdout: "" });
}, 70_000);

/**
 * Every string arrives exactly as sent: arbitrary Unicode topics, event names and data
 * through the real server, each subscribed and submitted in the three ways a backend
 * writes a string (msgpack str, old-style raw, bin holding UTF-8). The one change is
 * SSE's own: a CR or CRLF in data arrives as LF, since the format has no way to carry it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encode } from "@msgpack/msgpack";
import fc from "fast-check";
import { ALL_SERVERS, eventsUrl, expectHealthy, postSubmit, startServer, type RunningServer } from "../helpers/server.ts";
import { openStream } from "../helpers/sse.ts";
import { encodeOldStyle, seal, type TestEvent } from "../helpers/tokens.ts";

const utf8 = new TextEncoder();

type Form = "str" | "raw" | "bin";
const FORMS: readonly Form[] = ["str", "raw", "bin"];

/** msgpack of `value` with every string written in `form`. */
function encodeAs(form: Form, value: unknown): Uint8Array {
  if (form === "raw") return encodeOldStyle(value);
  if (form === "str") return encode(value);
  const toBin = (v: unknown): unknown =>
    typeof v === "string"
      ? utf8.encode(v)
      : Array.isArray(v)
        ? v.map(toBin)
        : v !== null && typeof v === "object"
          ? Object.fromEntries(Object.entries(v).map(([k, item]) => [k, toBin(item)]))
          : v;
  return encode(toBin(value));
}

// Any code point (astral ones included, never a lone surrogate), with the byte order mark,
// NUL, U+FFFE and separators made likely at every position.
const special = fc.constantFrom("\uFEFF", "\u0000", "\uFFFE", "\u2028", " ", ":", "é", "\u{1F600}");
const anyText = fc
  .array(fc.oneof(special, fc.string({ unit: "binary", maxLength: 4 })), { maxLength: 5 })
  .map((parts) => parts.join(""));
const singleLine = anyText.filter((s) => !/[\r\n]/.test(s));
const anyData = fc.oneof(anyText, fc.tuple(anyText, fc.constantFrom("\n", "\r", "\r\n"), anyText).map((p) => p.join("")));
const events = fc.array(fc.record({ topic: singleLine, event: singleLine, data: anyData }), { minLength: 1, maxLength: 4 });

for (const runtime of ALL_SERVERS) {
  describe(`${runtime}: strings arrive exactly as sent`, () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await startServer(runtime);
    });
    afterAll(async () => {
      await expectHealthy(server);
      await server.stop();
    });

    test("arbitrary topics, event names and data, in str, raw and bin forms", async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(events, async (sent: TestEvent[]) => {
          const subscribeForm = FORMS[run++ % FORMS.length]!;
          const topics = [...new Set(sent.map((e) => e.topic))];
          const stream = await openStream(eventsUrl(server, seal(encodeAs(subscribeForm, { topics }))));
          try {
            expect(stream.response.status).toBe(200);
            for (const form of FORMS) {
              const res = await postSubmit(server, seal(encodeAs(form, { events: sent })));
              expect(`${res.status} ${await res.text()}`).toBe("200 OK");
            }
            const received = await stream.next(sent.length * FORMS.length);
            const expected = FORMS.flatMap(() =>
              sent.map((e) => ({ event: e.event === "" ? "message" : e.event, data: e.data.replace(/\r\n?/g, "\n") })),
            );
            expect(received.map(({ event, data }) => ({ event, data }))).toEqual(expected);
          } finally {
            stream.close();
          }
        }),
        { numRuns: 40 },
      );
    });

    test("a topic with a leading byte order mark is its own topic", async () => {
      const plain = await openStream(eventsUrl(server, seal(encode({ topics: ["t"] }))));
      const marked = await openStream(eventsUrl(server, seal(encode({ topics: ["\uFEFFt"] }))));
      try {
        const sent = [
          { topic: "\uFEFFt", event: "\uFEFF", data: "\uFEFF" },
          { topic: "t", event: "", data: "plain" },
        ];
        const res = await postSubmit(server, seal(encode({ events: sent })));
        expect(res.status).toBe(200);
        expect((await marked.next(1)).map(({ event, data }) => ({ event, data }))).toEqual([{ event: "\uFEFF", data: "\uFEFF" }]);
        expect((await plain.next(1)).map((e) => e.data)).toEqual(["plain"]);
        expect(marked.pending).toHaveLength(0);
      } finally {
        plain.close();
        marked.close();
      }
    });
  });
}

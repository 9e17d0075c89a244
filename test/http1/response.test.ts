import { describe, expect, test } from "bun:test";
import { encodeHead, encodeStreamHead, type ResponsePlan } from "../../src/http1/response.ts";

const STREAM_HEADERS = { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "upgrade" };
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const withoutDate = (bytes: Uint8Array) => text(bytes).replace(/\r\ndate: [^\r]*/, "");

describe("encodeStreamHead", () => {
  const plans: ResponsePlan[] = [
    { framing: "chunked", close: false },
    { framing: "chunked", close: true },
    { framing: "close", close: true },
  ];

  test.each(plans)("is the head encodeHead writes for the same response (%o)", (plan) => {
    const response = new Response(new ReadableStream(), { headers: STREAM_HEADERS });
    expect(withoutDate(encodeStreamHead(STREAM_HEADERS, plan))).toBe(withoutDate(encodeHead(response, plan)));
    // The app's Connection header never goes out: framing and connection handling are this layer's.
    expect(text(encodeStreamHead(STREAM_HEADERS, plan))).not.toContain("upgrade");
  });

  test("is built once per second and plan, not per connection", () => {
    const plan: ResponsePlan = { framing: "chunked", close: false };
    let first = encodeStreamHead(STREAM_HEADERS, plan);
    let second = encodeStreamHead(STREAM_HEADERS, plan);
    if (second !== first) [first, second] = [second, encodeStreamHead(STREAM_HEADERS, plan)]; // a second ticked over
    expect(second).toBe(first);
    expect(encodeStreamHead(STREAM_HEADERS, { framing: "chunked", close: true })).not.toBe(first);
    expect(encodeStreamHead({ ...STREAM_HEADERS }, plan)).not.toBe(first);
  });
});

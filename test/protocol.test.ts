import { describe, expect, test } from "bun:test";
import { encode } from "@msgpack/msgpack";
import fc from "fast-check";
import type { z } from "zod";
import {
  decodePayload,
  parsePresence,
  parseDashboard,
  parseSubmit,
  parseSubscribe,
  parseTestEvent,
  PayloadError,
  submitSchema,
  subscribeSchema,
  type Limits,
} from "../src/protocol.ts";
import { normalizeGrants } from "../src/prefixes.ts";
import { BinKeyMap, encodeOldStyle, encodeWithBinKeys } from "./helpers/tokens.ts";

const limits: Limits = { maxTopicsPerToken: 4, maxEventsPerSubmit: 3, maxEventBytes: 64 };
const utf8 = (s: string) => new TextEncoder().encode(s);
const rejects = (fn: () => unknown, message: RegExp) => {
  expect(fn).toThrow(PayloadError);
  expect(fn).toThrow(message);
};

describe("parseSubscribe", () => {
  test("map form, unknown keys ignored", () => {
    expect(parseSubscribe(encode({ topics: ["a", "b"], user: 7 }), limits)).toEqual({ topics: ["a", "b"] });
  });

  test("rmp_serde array form", () => {
    expect(parseSubscribe(encode([["a", "b"]]), limits)).toEqual({ topics: ["a", "b"] });
  });

  test("bin strings (Python bytes) and old-style raw strings", () => {
    expect(parseSubscribe(encode({ topics: [utf8("a"), utf8("ü")] }), limits).topics).toEqual(["a", "ü"]);
    const long = "t".repeat(40); // raw16, where new msgpack writes str8
    expect(parseSubscribe(encodeOldStyle({ topics: [long] }), limits).topics).toEqual([long]);
  });

  test("duplicate topics are subscribed once, in first-named order", () => {
    expect(parseSubscribe(encode({ topics: ["b", "a", "b"] }), limits).topics).toEqual(["b", "a"]);
  });

  test("an empty topic list is valid (a stream of heartbeats only)", () => {
    expect(parseSubscribe(encode({ topics: [] }), limits).topics).toEqual([]);
  });

  test("rejects bad shapes with a path to the problem", () => {
    rejects(() => parseSubscribe(encode({}), limits), /topics/);
    rejects(() => parseSubscribe(encode({ topics: "a" }), limits), /topics/);
    rejects(() => parseSubscribe(encode({ topics: [1] }), limits), /topics\.0/);
    rejects(() => parseSubscribe(encode(42), limits), /expected a map or an array/);
    rejects(() => parseSubscribe(encode(null), limits), /expected a map or an array/);
  });

  test("rejects CR or LF in a topic, and invalid UTF-8", () => {
    rejects(() => parseSubscribe(encode({ topics: ["a\nb"] }), limits), /CR or LF/);
    rejects(() => parseSubscribe(encode({ topics: ["a\rb"] }), limits), /CR or LF/);
    rejects(() => parseSubscribe(encode({ topics: [new Uint8Array([0xc3, 0x28])] }), limits), /UTF-8/);
  });

  test("rejects more distinct topics than the limit", () => {
    rejects(() => parseSubscribe(encode({ topics: ["1", "2", "3", "4", "5"] }), limits), /too many topics/);
    expect(parseSubscribe(encode({ topics: ["1", "2", "3", "4", "4"] }), limits).topics).toHaveLength(4);
  });

  test("a bin key spelling __proto__ is a bad payload (400), not a crash", () => {
    // fixmap{bin"topics": [fixmap{bin"__proto__": bin"ab"}]}: the inner map's prototype becomes a Uint8Array
    const bin = (s: string) => [0xc4, s.length, ...utf8(s)];
    const payload = Uint8Array.from([0x81, ...bin("topics"), 0x91, 0x81, ...bin("__proto__"), ...bin("ab")]);
    rejects(() => parseSubscribe(payload, limits), /topics\.0/);
    const event = [0x81, ...bin("__proto__"), ...bin("ab")];
    rejects(() => parseSubmit(Uint8Array.from([0x91, 0x91, 0x93, ...event, ...bin("e"), ...bin("d")]), limits), /events\.0/);
  });

  test("rejects bytes that are not msgpack", () => {
    rejects(() => parseSubscribe(new Uint8Array([0xc1]), limits), /not valid msgpack/);
    rejects(() => parseSubscribe(new Uint8Array([]), limits), /not valid msgpack/);
    rejects(() => parseSubscribe(utf8('{"topics":["a"]}'), limits), /msgpack|expected/);
    // A valid value followed by trailing bytes is not one msgpack document.
    rejects(() => parseSubscribe(new Uint8Array([...encode({ topics: [] }), 0x01]), limits), /msgpack/);
  });
});

describe("parsePresence", () => {
  test("map form, unknown keys ignored; rmp_serde array form", () => {
    expect(parsePresence(encode({ presence: ["a", "b"], user: 7 }), limits)).toEqual({ topics: ["a", "b"] });
    expect(parsePresence(encode([["a", "b"]]), limits)).toEqual({ topics: ["a", "b"] });
  });

  test("bin keys and strings (Python bytes) and old-style raw strings", () => {
    const payload = encodeWithBinKeys(new BinKeyMap([["presence", [utf8("a"), utf8("ü")]]]));
    expect(parsePresence(payload, limits).topics).toEqual(["a", "ü"]);
    expect(parsePresence(encodeOldStyle({ presence: ["t".repeat(40)] }), limits).topics).toEqual(["t".repeat(40)]);
  });

  test("duplicate topics are counted once, in first-named order; the limit is on distinct topics", () => {
    expect(parsePresence(encode({ presence: ["b", "a", "b"] }), limits).topics).toEqual(["b", "a"]);
    expect(parsePresence(encode({ presence: ["1", "2", "3", "4", "4"] }), limits).topics).toHaveLength(4);
    rejects(() => parsePresence(encode({ presence: ["1", "2", "3", "4", "5"] }), limits), /too many topics: 5 > 4/);
  });

  test("rejects an empty list, non-string topics, CR or LF, invalid UTF-8, and not msgpack", () => {
    rejects(() => parsePresence(encode({ presence: [] }), limits), /presence: must name at least one topic/);
    rejects(() => parsePresence(encode([[]]), limits), /presence: must name at least one topic/);
    rejects(() => parsePresence(encode({ presence: [1] }), limits), /presence\.0: expected a string/);
    rejects(() => parsePresence(encode({ presence: "a" }), limits), /presence/);
    rejects(() => parsePresence(encode({ presence: ["a\nb"] }), limits), /CR or LF/);
    rejects(() => parsePresence(encode({ presence: [new Uint8Array([0xc3, 0x28])] }), limits), /UTF-8/);
    rejects(() => parsePresence(new Uint8Array([0xc1]), limits), /not valid msgpack/);
  });

  test("a subscribe or submit payload is no presence query, and a presence query neither of them", () => {
    rejects(() => parsePresence(encode({ topics: ["a"] }), limits), /presence/);
    rejects(() => parsePresence(encode({ events: [{ topic: "a", event: "", data: "" }] }), limits), /presence/);
    rejects(() => parsePresence(encode([[["a", "", ""]]]), limits), /presence\.0: expected a string/);
    rejects(() => parseSubscribe(encode({ presence: ["a"] }), limits), /topics/);
    rejects(() => parseSubmit(encode({ presence: ["a"] }), limits), /events/);
    rejects(() => parseSubmit(encode([["a"]]), limits), /events\.0/);
    // Positionally a presence query and a subscription are the same bytes (README "Who is listening").
    expect(parseSubscribe(encode([["a"]]), limits).topics).toEqual(parsePresence(encode([["a"]]), limits).topics);
  });
});

describe("parseSubmit", () => {
  const event = { topic: "t", event: "e", data: "line 1\nline 2" };

  test("map form", () => {
    expect(parseSubmit(encode({ events: [event] }), limits)).toEqual({ events: [event] });
  });

  test("rmp_serde array form, and map and array structs mixed", () => {
    const payload = encode([[["t", "e", "d"], { topic: "u", event: "", data: "" }]]);
    expect(parseSubmit(payload, limits).events).toEqual([
      { topic: "t", event: "e", data: "d" },
      { topic: "u", event: "", data: "" },
    ]);
  });

  test("bin keys and values (Python bytes everywhere)", () => {
    // fixmap{bin"events": [fixmap{bin"topic": bin"t", bin"event": bin"e", bin"data": bin"d"}]}
    const bin = (s: string) => [0xc4, s.length, ...utf8(s)];
    const payload = Uint8Array.from([
      0x81, ...bin("events"), 0x91,
      0x83, ...bin("topic"), ...bin("t"), ...bin("event"), ...bin("e"), ...bin("data"), ...bin("d"),
    ]);
    expect(parseSubmit(payload, limits).events).toEqual([{ topic: "t", event: "e", data: "d" }]);
  });

  test("old-style raw strings", () => {
    const data = "x".repeat(50);
    expect(parseSubmit(encodeOldStyle({ events: [{ topic: "t", event: "e", data }] }), limits).events[0]!.data).toBe(data);
  });

  test("the whole submission is rejected when one event is bad", () => {
    const bad = { events: [event, { topic: "t", event: "x\ny", data: "" }] };
    rejects(() => parseSubmit(encode(bad), limits), /events\.1\.event: must not contain CR or LF/);
  });

  test("missing or non-string fields are rejected", () => {
    rejects(() => parseSubmit(encode({ events: [{ topic: "t", event: "e" }] }), limits), /events\.0\.data/);
    rejects(() => parseSubmit(encode({ events: [{ topic: "t", event: 1, data: "" }] }), limits), /events\.0\.event/);
    rejects(() => parseSubmit(encode([[["t", "e"]]]), limits), /events\.0\.data/);
    rejects(() => parseSubmit(encode({ events: {} }), limits), /events/);
  });

  test("data may hold line breaks; topics may not", () => {
    rejects(() => parseSubmit(encode({ events: [{ ...event, topic: "a\r\nb" }] }), limits), /topic/);
  });

  test("limits: events per submission and bytes per event", () => {
    rejects(() => parseSubmit(encode({ events: [event, event, event, event] }), limits), /too many events/);
    const big = { topic: "t", event: "e", data: "é".repeat(32) }; // 2 + 64 bytes
    rejects(() => parseSubmit(encode({ events: [big] }), limits), /over the limit/);
    const fits = { topic: "t", event: "e", data: "x".repeat(62) };
    expect(parseSubmit(encode({ events: [fits] }), limits).events).toHaveLength(1);
  });

  test("a leading byte order mark is part of the string, and of the event's size", () => {
    const bom = { topic: "\uFEFFt", event: "\uFEFF", data: "\uFEFF" + "é".repeat(40) };
    const roomy: Limits = { ...limits, maxEventBytes: 1000 };
    expect(parseSubmit(encode({ events: [bom] }), roomy).events).toEqual([bom]); // the hand reader
    expect(parseSubmit(encode({ events: [bom], extra: 1 }), roomy).events).toEqual([bom]); // the schema
    const bin = { topic: utf8(bom.topic), event: utf8(bom.event), data: utf8(bom.data) };
    expect(parseSubmit(encode({ events: [bin] }), roomy).events).toEqual([bom]);
    expect(parseSubscribe(encode({ topics: ["\uFEFF", "\uFEFFa"] }), limits).topics).toEqual(["\uFEFF", "\uFEFFa"]);
    const fits = { topic: "t", event: "e", data: "\uFEFF" + "x".repeat(59) }; // 1 + 1 + 3 + 59 = 64 bytes
    expect(parseSubmit(encode({ events: [fits] }), limits).events[0]!.data).toBe(fits.data);
    rejects(() => parseSubmit(encode({ events: [{ ...fits, data: fits.data + "x" }] }), limits), /event 0 is 65 bytes/);
  });

  test("an empty submission is valid", () => {
    expect(parseSubmit(encode({ events: [] }), limits).events).toEqual([]);
  });

  test("an idempotency id: map form in either order, positional as a trailing element, nil as none", () => {
    expect(parseSubmit(encode({ id: "order-42", events: [event] }), limits)).toEqual({ events: [event], id: "order-42" });
    expect(parseSubmit(encode({ events: [event], id: "order-42" }), limits)).toEqual({ events: [event], id: "order-42" });
    expect(parseSubmit(encode([[["t", "e", "d"]], "order-42"]), limits).id).toBe("order-42");
    expect(parseSubmit(encodeOldStyle({ events: [], id: "é".repeat(100) }), limits).id).toBe("é".repeat(100));
    expect(parseSubmit(encode({ events: [], id: utf8("bin") }), limits).id).toBe("bin");
    expect(parseSubmit(encode({ events: [], id: "x", extra: 1 }), limits).id).toBe("x"); // via the schema
    for (const none of [encode([[]]), encode([[], null]), encode({ events: [], id: null })]) {
      const parsed = parseSubmit(none, limits);
      expect(parsed).toEqual({ events: [] });
      expect("id" in parsed).toBe(false);
    }
  });

  test("a bad id is a 400 naming it: empty, over 200 bytes, not a string, not UTF-8", () => {
    expect(parseSubmit(encode({ events: [], id: "x".repeat(200) }), limits).id).toHaveLength(200);
    const bad = /^invalid payload: id: /;
    for (const id of ["", "x".repeat(201), "é".repeat(101), 42, [], new Uint8Array([0xc3, 0x28])]) {
      rejects(() => parseSubmit(encode({ events: [event], id }), limits), bad);
      rejects(() => parseSubmit(encode([[event], id]), limits), bad);
    }
    rejects(() => parseSubmit(encode({ events: [], id: 1 }), limits), /id: expected a string/);
    rejects(() => parseSubmit(encode({ events: [], id: "" }), limits), /id: must be 1 to 200 bytes of UTF-8/);
  });
});

describe("the hand-read fast path accepts exactly what the schemas accept", () => {
  const roomy: Limits = { maxTopicsPerToken: 1_000, maxEventsPerSubmit: 1_000, maxEventBytes: 1_000_000 };
  // Strings near the rules: line breaks, invalid UTF-8 as bin, non-strings, impostors.
  const text = fc.oneof(
    fc.string({ maxLength: 6 }),
    fc.constantFrom("a\nb", "\r", "é", "", "\uFEFFé", "\uFEFF"),
    fc.uint8Array({ maxLength: 4 }),
    fc.constantFrom(new Uint8Array([0xc3, 0x28]), new Uint8Array([10]), 1, null, true),
    // decodes to an object whose prototype is a Uint8Array: instanceof says yes, it is no array
    fc.constant(new BinKeyMap([["__proto__", new Uint8Array([97, 98])]])),
  );
  // Python backends write `bytes` keys as bin, which can spell what str keys may not.
  const binKeyed = (fields: Record<string, fc.Arbitrary<unknown>>) =>
    fc
      .tuple(fc.record(fields, { requiredKeys: [] }), fc.constantFrom("__proto__", "constructor", "toString"), text)
      .chain(([record, oddKey, oddValue]) =>
        fc.constantFrom(
          new BinKeyMap(Object.entries(record)),
          new BinKeyMap([[oddKey, oddValue], ...Object.entries(record)]),
          new BinKeyMap([...Object.entries(record), [oddKey, oddValue]]),
          // keys twice: the decoder keeps the last
          new BinKeyMap([...Object.entries(record), ...Object.entries(record).reverse()]),
          new BinKeyMap([...Object.entries(record), ...Object.entries(record).slice(0, 1)]),
        ),
      );
  const struct = (fields: Record<string, fc.Arbitrary<unknown>>) =>
    fc.oneof(
      fc.record(fields, { requiredKeys: [] }),
      fc.tuple(...Object.values(fields)),
      fc.tuple(...Object.values(fields), fc.anything()),
      fc.record({ ...fields, extra: fc.anything() }),
      binKeyed(fields),
    );
  const list = <T>(item: fc.Arbitrary<T>) => fc.oneof(fc.array(item, { maxLength: 4 }), text);
  const event = struct({ topic: text, event: text, data: text });
  const outcome = (parse: () => unknown) => {
    try {
      return { ok: parse() };
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      return { rejected: error.message };
    }
  };

  /**
   * For any value near `shape`: the parser accepts it iff the schema alone does (msgpack
   * that does not decode is a rejection either way), with the schema's result as `expected` maps it.
   */
  function agreesWithSchema<T>(
    shape: fc.Arbitrary<unknown>,
    schema: z.ZodType<T>,
    parse: (payload: Uint8Array) => unknown,
    expected: (data: T) => unknown,
  ): void {
    fc.assert(
      fc.property(fc.oneof(shape, fc.anything()), fc.constantFrom("whole", "cut", "trailing"), (value, form) => {
        const whole = encodeWithBinKeys(value);
        // A payload cut short, or with a byte after its value, is not msgpack of one value.
        const payload =
          form === "whole" ? whole : form === "cut" ? whole.subarray(0, -1) : Uint8Array.of(...whole, 0xc0);
        const decoded = outcome(() => decodePayload(payload));
        const viaSchema = "ok" in decoded ? schema.safeParse(decoded.ok) : { success: false as const };
        const got = outcome(() => parse(payload));
        if (!viaSchema.success) return "rejected" in got;
        return "ok" in got && expect(got.ok).toEqual(expected(viaSchema.data)) === undefined;
      }),
      { numRuns: 2_000 },
    );
  }

  test("subscribe payloads", () => {
    // A second positional element is `prefixes`: topics-only results only when it names none.
    const shapes = fc.oneof(struct({ topics: list(text) }), struct({ topics: list(text), prefixes: list(text) }));
    agreesWithSchema(shapes, subscribeSchema, (p) => parseSubscribe(p, roomy), (data) =>
      data.prefixes.length > 0 ? normalizeGrants(data.topics, data.prefixes) : { topics: [...new Set(data.topics)] },
    );
  });

  test("submit payloads", () => {
    agreesWithSchema(struct({ events: list(event) }), submitSchema, (p) => parseSubmit(p, roomy), (data) => data);
  });

  test("submit payloads with an id", () => {
    // Ids near the rules too: nil, empty, at and past 200 bytes (ASCII and two-byte UTF-8).
    const id = fc.oneof(text, fc.constantFrom("x".repeat(200), "x".repeat(201), "é".repeat(100), "é".repeat(101), "a\nb"));
    const shapes = fc.oneof(struct({ events: list(event), id }), struct({ id, events: list(event) }));
    agreesWithSchema(shapes, submitSchema, (p) => parseSubmit(p, roomy), (data) => data);
  });

  test("submit payloads: an event's size is that of the strings the schema reads", () => {
    const tight: Limits = { ...roomy, maxEventBytes: 6 };
    const size = (e: { topic: string; event: string; data: string }) => utf8(e.topic).length + utf8(e.event).length + utf8(e.data).length;
    fc.assert(
      fc.property(struct({ events: list(event) }), (value) => {
        const payload = encodeWithBinKeys(value);
        const decoded = outcome(() => decodePayload(payload));
        const viaSchema = "ok" in decoded ? submitSchema.safeParse(decoded.ok) : { success: false as const };
        const got = outcome(() => parseSubmit(payload, tight));
        if (!viaSchema.success) return "rejected" in got;
        const over = viaSchema.data.events.findIndex((e) => size(e) > tight.maxEventBytes);
        if (over < 0) return "ok" in got;
        return "rejected" in got && got.rejected === `event ${over} is ${size(viaSchema.data.events[over]!)} bytes, over the limit of 6`;
      }),
      { numRuns: 2_000 },
    );
  });

  test("a repeated key is settled as the decoder settles it: the last one wins", () => {
    const event = (entries: [string, string][]) => encodeWithBinKeys({ events: [new BinKeyMap(entries)] });
    rejects(() => parseSubmit(event([["topic", "a"], ["event", "b"], ["topic", "c"]]), roomy), /events\.0\.data: expected a string/);
    expect(parseSubmit(event([["topic", "a"], ["event", "b"], ["data", "x"], ["topic", "c"]]), roomy).events).toEqual([
      { topic: "c", event: "b", data: "x" },
    ]);
  });

  test("any header width: str 8/16/32, bin 8/16/32, map 16/32, array 16/32", () => {
    const be = (n: number, size: number) => Array.from({ length: size }, (_, i) => (n >>> (8 * (size - 1 - i))) & 0xff);
    const str = (s: string, tag: number, size: number) => [tag, ...be(utf8(s).length, size), ...utf8(s)];
    const topics = (strTag: number, strSize: number) => [0xdc, 0, 2, ...str("a", strTag, strSize), ...str("bé", strTag, strSize)];
    for (const [tag, size] of [[0xd9, 1], [0xda, 2], [0xdb, 4], [0xc4, 1], [0xc5, 2], [0xc6, 4]] as const) {
      const map16 = Uint8Array.of(0xde, 0, 1, ...str("topics", tag, size), ...topics(tag, size));
      const map32 = Uint8Array.of(0xdf, 0, 0, 0, 1, ...str("topics", tag, size), ...topics(tag, size));
      const array32 = Uint8Array.of(0xdd, 0, 0, 0, 1, ...topics(tag, size));
      for (const payload of [map16, map32, array32]) {
        expect(parseSubscribe(payload, roomy)).toEqual({ topics: ["a", "bé"] });
        expect(subscribeSchema.parse(decodePayload(payload)).topics).toEqual(["a", "bé"]);
      }
    }
    const event = [0x83, ...str("data", 0xd9, 1), ...str("x", 0xc5, 2), ...str("topic", 0xc4, 1), ...str("t", 0xdb, 4), ...str("event", 0xda, 2), ...str("e", 0xd9, 1)];
    expect(parseSubmit(Uint8Array.of(0x91, 0xdd, 0, 0, 0, 1, ...event), roomy)).toEqual({ events: [{ topic: "t", event: "e", data: "x" }] });
  });
});

describe("parseSubscribe with prefixes", () => {
  test("map form {topics, prefixes}, and the positional [[topics], [prefixes]]", () => {
    const expected = { topics: ["a"], prefixes: ["user-42/"] };
    expect(parseSubscribe(encode({ topics: ["a"], prefixes: ["user-42/"] }), limits)).toEqual(expected);
    expect(parseSubscribe(encode({ prefixes: ["user-42/"], topics: ["a"] }), limits)).toEqual(expected);
    expect(parseSubscribe(encode([["a"], ["user-42/"]]), limits)).toEqual(expected);
    expect(parseSubscribe(encode({ topics: [utf8("a")], prefixes: [utf8("user-42/")] }), limits)).toEqual(expected);
  });

  test("topics may be empty beside prefixes", () => {
    expect(parseSubscribe(encode({ topics: [], prefixes: ["p/"] }), limits)).toEqual({ topics: [], prefixes: ["p/"] });
  });

  test("absent, nil (rmp_serde's None) or empty prefixes: a topics-only request, exactly as before", () => {
    for (const payload of [{ topics: ["a"], prefixes: null }, { topics: ["a"], prefixes: [] }, [["a"], null], [["a"]]]) {
      expect(parseSubscribe(encode(payload), limits)).toStrictEqual({ topics: ["a"] });
    }
  });

  test("grants are made disjoint: topics under a prefix and prefixes under another are dropped", () => {
    const request = parseSubscribe(encode({ topics: ["u/1", "v"], prefixes: ["u/", "u/a/", "u/"] }), limits);
    expect(request).toEqual({ topics: ["v"], prefixes: ["u/"] });
  });

  test("rejects an empty prefix, a non-string, CR or LF, invalid UTF-8, a non-list", () => {
    rejects(() => parseSubscribe(encode({ topics: [], prefixes: [""] }), limits), /prefixes\.0: a prefix must not be empty/);
    rejects(() => parseSubscribe(encode({ topics: [], prefixes: [1] }), limits), /prefixes\.0/);
    rejects(() => parseSubscribe(encode({ topics: [], prefixes: ["a\nb"] }), limits), /CR or LF/);
    rejects(() => parseSubscribe(encode({ topics: [], prefixes: [new Uint8Array([0xc3, 0x28])] }), limits), /UTF-8/);
    rejects(() => parseSubscribe(encode({ topics: [], prefixes: "a/" }), limits), /prefixes/);
    rejects(() => parseSubscribe(encode([[], [""]]), limits), /prefixes\.0/);
  });

  test("topics and prefixes share the limit, counted distinct", () => {
    expect(parseSubscribe(encode({ topics: ["a", "b"], prefixes: ["p", "q", "p"] }), limits).prefixes).toEqual(["p", "q"]);
    rejects(() => parseSubscribe(encode({ topics: ["a", "b", "c"], prefixes: ["p", "q"] }), limits), /too many topics and prefixes: 5 > 4/);
  });
});

describe("parseDashboard", () => {
  test("{dashboard: true} as a map (unknown keys ignored) or rmp_serde's [true]", () => {
    expect(() => parseDashboard(encode({ dashboard: true }))).not.toThrow();
    expect(() => parseDashboard(encode({ dashboard: true, who: "ops" }))).not.toThrow();
    expect(() => parseDashboard(encode([true]))).not.toThrow();
    expect(() => parseDashboard(encodeWithBinKeys(new BinKeyMap([["dashboard", true]])))).not.toThrow();
  });

  test("another kind of token, or dashboard not true, is a PayloadError", () => {
    rejects(() => parseDashboard(encode({ topics: ["a"] })), /dashboard/);
    rejects(() => parseDashboard(encode([["a"]])), /dashboard/);
    rejects(() => parseDashboard(encode({ events: [{ topic: "t", event: "", data: "" }] })), /dashboard/);
    rejects(() => parseDashboard(encode({ dashboard: false })), /dashboard/);
    rejects(() => parseDashboard(encode({ dashboard: 1 })), /dashboard/);
    rejects(() => parseDashboard(encode([false])), /dashboard/);
    rejects(() => parseDashboard(new Uint8Array([0xc1])), /not valid msgpack/);
  });
});

describe("parseTestEvent (the dashboard's publish form)", () => {
  test("a JSON object of topic, event and data; event and data default to empty", () => {
    expect(parseTestEvent('{"topic":"t","event":"e","data":"a\\nb"}', limits)).toEqual({ topic: "t", event: "e", data: "a\nb" });
    expect(parseTestEvent('{"topic":"t"}', limits)).toEqual({ topic: "t", event: "", data: "" });
  });

  test("held to the rules and limits of a submitted event", () => {
    rejects(() => parseTestEvent("not json", limits), /not valid JSON/);
    rejects(() => parseTestEvent("[]", limits), /expected object/);
    rejects(() => parseTestEvent('{"event":"e"}', limits), /topic/);
    rejects(() => parseTestEvent('{"topic":"a\\nb"}', limits), /topic: must not contain CR or LF/);
    rejects(() => parseTestEvent('{"topic":"t","event":"a\\rb"}', limits), /event: must not contain CR or LF/);
    rejects(() => parseTestEvent('{"topic":"t","data":"\\ud800"}', limits), /data: .*lone surrogate/);
    rejects(() => parseTestEvent('{"topic":"t","data":5}', limits), /data/);
    rejects(() => parseTestEvent(JSON.stringify({ topic: "t", data: "x".repeat(64) }), limits), /over the limit of 64/);
    expect(parseTestEvent(JSON.stringify({ topic: "t", data: "x".repeat(63) }), limits).data).toHaveLength(63);
    expect(parseTestEvent('{"topic":"t","data":"\\ud83d\\ude00"}', limits).data).toBe("😀");
  });
});

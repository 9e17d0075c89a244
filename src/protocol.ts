/**
 * Token payloads → typed requests. Backends of the original server write msgpack from
 * Python (`msgpack`: maps, `bytes` as bin) or Rust (`rmp_serde`: structs as positional
 * arrays unless configured otherwise), so every struct is accepted in both forms,
 * strings as str (old-style raw included) or as bin holding UTF-8, unknown keys ignored.
 */
import { Decoder } from "@msgpack/msgpack";
import { z } from "zod";
import { normalizeGrants } from "./prefixes.ts";
import type { SseEvent } from "./sse.ts";

export interface Limits {
  readonly maxTopicsPerToken: number;
  readonly maxEventsPerSubmit: number;
  readonly maxEventBytes: number;
}

export interface SubscribeRequest {
  /** Distinct topics, in the order first named (none under one of `prefixes`). */
  readonly topics: readonly string[];
  /**
   * Prefix grants: every topic that starts with one of them. Distinct, non-empty, none
   * under another; absent when the payload names none (a topics-only token).
   */
  readonly prefixes?: readonly string[];
}

export interface PresenceRequest {
  /** Distinct topics, in the order first named; at least one. */
  readonly topics: readonly string[];
}

export interface SubmitRequest {
  readonly events: readonly SseEvent[];
  /** The backend's name for this submission: a retry under the same id is delivered once. */
  readonly id?: string | undefined;
}

/** The longest idempotency id, in UTF-8 bytes: room for any reasonable key, bounded in Redis. */
export const MAX_ID_BYTES = 200;

/** The payload is authentic but not a valid request; the message is safe to show. */
export class PayloadError extends Error {
  override name = "PayloadError";
}

/** `ignoreBOM`: a leading U+FEFF is part of the string, not a marker to drop. */
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Bytes = new TextEncoder();

/** str and bin both arrive as bytes (`rawStrings`), so both are held to strict UTF-8. */
const text = z.instanceof(Uint8Array, { error: "expected a string" }).transform((bytes, ctx) => {
  try {
    return utf8.decode(bytes);
  } catch {
    ctx.addIssue({ code: "custom", message: "string is not valid UTF-8" });
    return z.NEVER;
  }
});

const singleLine = text.refine((s) => !/[\r\n]/.test(s), "must not contain CR or LF");

/** A struct as a map with named fields, or as rmp_serde's positional array of them. */
function struct<T extends z.ZodRawShape>(shape: T) {
  const keys = Object.keys(shape);
  const named = (value: unknown) =>
    Array.isArray(value) ? Object.fromEntries(keys.map((key, i) => [key, value[i]])) : value;
  return z.preprocess(named, z.object(shape, { error: `expected a map or an array of ${keys.join(", ")}` }));
}

/** The zod schemas define what is valid and word every rejection. */
/** `prefixes`: absent or nil (rmp_serde's `None`) means none; "" would grant every topic, so it is refused. */
const prefixesSchema = z
  .array(singleLine.refine((s) => s.length > 0, "a prefix must not be empty"))
  .nullish()
  .transform((prefixes) => prefixes ?? []);
export const subscribeSchema = struct({ topics: z.array(singleLine), prefixes: prefixesSchema });
const eventSchema = struct({ topic: singleLine, event: singleLine, data: text });
/** Absent or nil (rmp_serde writes a `None` as nil in the positional form) means none. */
const idSchema = text
  .refine((s) => s.length > 0 && byteLength(s) <= MAX_ID_BYTES, `must be 1 to ${MAX_ID_BYTES} bytes of UTF-8`)
  .nullish()
  .transform((id) => id ?? undefined);
export const submitSchema = struct({ events: z.array(eventSchema), id: idSchema });
/**
 * `{presence: [topics]}`; positionally `[[topics]]`, the same bytes as a positional
 * subscribe token (README "Who is listening").
 */
export const presenceSchema = struct({ presence: z.array(singleLine).min(1, "must name at least one topic") });

export function parseSubscribe(payload: Uint8Array, limits: Limits): SubscribeRequest {
  const read = readTopics(payload);
  const { topics, prefixes } = read ? { topics: read, prefixes: [] } : validate(subscribeSchema, decodePayload(payload));
  const distinct = [...new Set(topics)];
  if (prefixes.length === 0) return { topics: distinctTopics(distinct, limits) };
  // Topics and prefixes share the limit: each is one entry in the hub.
  const grants = distinct.length + new Set(prefixes).size;
  if (grants > limits.maxTopicsPerToken) {
    throw new PayloadError(`too many topics and prefixes: ${grants} > ${limits.maxTopicsPerToken}`);
  }
  return normalizeGrants(distinct, prefixes);
}

/** Not on a hot path: decoded and validated by the schema alone. */
export function parsePresence(payload: Uint8Array, limits: Limits): PresenceRequest {
  return { topics: distinctTopics(validate(presenceSchema, decodePayload(payload)).presence, limits) };
}

/** Duplicates dropped (first mention kept), then held to SSE_MAX_TOPICS. */
function distinctTopics(topics: readonly string[], limits: Limits): string[] {
  const distinct = [...new Set(topics)];
  if (distinct.length > limits.maxTopicsPerToken) {
    throw new PayloadError(`too many topics: ${distinct.length} > ${limits.maxTopicsPerToken}`);
  }
  return distinct;
}

export function parseSubmit(payload: Uint8Array, limits: Limits): SubmitRequest {
  const read = readEvents(payload);
  const { events, id } = read ?? validate(submitSchema, decodePayload(payload));
  checkEventLimits(events, read?.sizes, limits);
  return id === undefined ? { events } : { events, id };
}

/** The dashboard's token: `{dashboard: true}`, or rmp_serde's `[true]`; unknown keys ignored. */
export const dashboardSchema = struct({
  dashboard: z.literal(true, { error: "expected true (a dashboard token)" }),
});

/** Checks that an authentic token is a dashboard token (else PayloadError, a 400). */
export function parseDashboard(payload: Uint8Array): void {
  validate(dashboardSchema, decodePayload(payload));
}

/** A JSON string that UTF-8 can carry (no lone surrogate), as `text` is for msgpack. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const jsonText = z.string().refine((s) => !LONE_SURROGATE.test(s), "string is not valid Unicode (lone surrogate)");
const jsonLine = jsonText.refine((s) => !/[\r\n]/.test(s), "must not contain CR or LF");
/** The dashboard's test event: a JSON object of topic, event (optional, default "") and data (optional). */
export const testEventSchema = z.object({ topic: jsonLine, event: jsonLine.default(""), data: jsonText.default("") });

/** The dashboard's publish form (a JSON body), under the same rules and limits as a submitted event. */
export function parseTestEvent(body: string, limits: Limits): SseEvent {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new PayloadError("body is not valid JSON");
  }
  const { topic, event, data } = validate(testEventSchema, value);
  const events = [{ topic, event, data }];
  checkEventLimits(events, undefined, limits);
  return events[0]!;
}

/** The count and per-event size limits; `sizes` in UTF-8 bytes when already known, else measured. */
function checkEventLimits(events: readonly SseEvent[], sizes: readonly number[] | undefined, limits: Limits): void {
  if (events.length > limits.maxEventsPerSubmit) {
    throw new PayloadError(`too many events: ${events.length} > ${limits.maxEventsPerSubmit}`);
  }
  // The hand reader has each event's UTF-8 size from the msgpack headers; others are measured.
  (sizes ?? events.map((e) => byteLength(e.topic) + byteLength(e.event) + byteLength(e.data))).forEach((size, i) => {
    if (size > limits.maxEventBytes) {
      throw new PayloadError(`event ${i} is ${size} bytes, over the limit of ${limits.maxEventBytes}`);
    }
  });
}

function validate<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new PayloadError(`invalid payload: ${describeIssue(result.error)}`);
}

// The hot path (every connect, every submitted event) reads the payload's bytes by hand:
// the shapes backends write (a map of the named fields, or rmp_serde's array of them;
// str or bin keys and strings; any msgpack header width) under the schemas' rules, with no
// decoder object, DataView or intermediate value per payload. Anything else is `undefined`
// and goes to @msgpack/msgpack and the schema, which decide and word the error.

const TOPICS = ascii("topics");
const EVENTS = ascii("events");
const ID = ascii("id");
const EVENT_FIELDS = [ascii("topic"), ascii("event"), ascii("data")] as const;

function readTopics(payload: Uint8Array): string[] | undefined {
  const r = new PayloadReader(payload);
  if (!r.structOf(TOPICS)) return undefined;
  const count = r.arrayLength();
  if (count < 0) return undefined;
  const topics = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const topic = r.text(true);
    if (topic === undefined) return undefined;
    topics[i] = topic;
  }
  return r.atEnd() ? topics : undefined;
}

/**
 * The events, each one's size in bytes (topic, event and data as UTF-8), and the id if any:
 * a map of `events` and optionally `id` (either order), or an array of one or two.
 */
function readEvents(payload: Uint8Array): { events: SseEvent[]; sizes: number[]; id: string | undefined } | undefined {
  const r = new PayloadReader(payload);
  let read: { events: SseEvent[]; sizes: number[] } | undefined;
  let id: string | undefined;
  const fields = r.mapLength();
  if (fields >= 0) {
    if (fields < 1 || fields > 2) return undefined;
    let sawId = false;
    for (let f = 0; f < fields; f++) {
      const length = r.keyLength();
      if (length === EVENTS.length && !read && r.matches(EVENTS)) {
        read = readEventList(r);
        if (!read) return undefined;
      } else if (length === ID.length && !sawId && r.matches(ID)) {
        sawId = true;
        const taken = r.id();
        if (taken === undefined) return undefined;
        id = taken ?? undefined;
      } else return undefined; // another key, or one repeated: the schema's to settle
    }
  } else {
    const count = r.arrayLength();
    if (count !== 1 && count !== 2) return undefined;
    read = readEventList(r);
    if (!read) return undefined;
    if (count === 2) {
      const taken = r.id();
      if (taken === undefined) return undefined;
      id = taken ?? undefined;
    }
  }
  return read && r.atEnd() ? { events: read.events, sizes: read.sizes, id } : undefined;
}

function readEventList(r: PayloadReader): { events: SseEvent[]; sizes: number[] } | undefined {
  const count = r.arrayLength();
  if (count < 0) return undefined;
  const events = new Array<SseEvent>(count);
  const sizes = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    const before = r.textBytes;
    const event = r.event();
    if (event === undefined) return undefined;
    events[i] = event;
    sizes[i] = r.textBytes - before;
  }
  return { events, sizes };
}

const NIL = 0xc0;
const LF = 10;
const CR = 13;
/**
 * Up to this many bytes, ASCII is read without the TextDecoder call, whose cost is per call;
 * past it the decoder is cheaper, as a character at a time costs per byte (about 10 ns a
 * byte on Bun, Node and Deno; a call 60-150 ns).
 */
const SHORT_TEXT = 12;

/** A cursor over one payload; every read returns undefined (or -1) for what it does not take. */
class PayloadReader {
  #at = 0;
  /** UTF-8 bytes of all the text read so far (as the strings read hold them). */
  textBytes = 0;
  constructor(private readonly bytes: Uint8Array) {}

  atEnd(): boolean {
    return this.#at === this.bytes.length;
  }

  /** A one-field struct: a map whose only key is `name`, or an array of one; after it, the field's value. */
  structOf(name: Uint8Array): boolean {
    const fields = this.mapLength();
    if (fields >= 0) return fields === 1 && this.#stringLength() === name.length && this.#matches(name);
    return this.arrayLength() === 1;
  }

  /** An event struct: a map of exactly topic, event and data in any order, or an array of the three. */
  event(): SseEvent | undefined {
    const fields = this.mapLength();
    if (fields < 0) {
      if (this.arrayLength() !== 3) return undefined;
      const topic = this.text(true);
      if (topic === undefined) return undefined;
      const event = this.text(true);
      if (event === undefined) return undefined;
      const data = this.text(false);
      return data === undefined ? undefined : { topic, event, data };
    }
    if (fields !== 3) return undefined;
    const values: (string | undefined)[] = [undefined, undefined, undefined];
    for (let f = 0; f < 3; f++) {
      const length = this.#stringLength(); // a key is a str or bin too
      const field = EVENT_FIELDS.findIndex((name) => name.length === length && this.#matches(name));
      // A repeated key is the decoder's to settle (the last one wins there).
      if (field < 0 || values[field] !== undefined) return undefined;
      values[field] = this.text(field !== 2);
      if (values[field] === undefined) return undefined;
    }
    return { topic: values[0]!, event: values[1]!, data: values[2]! };
  }

  mapLength(): number {
    return this.#containerLength(0x80, 0xde, 0xdf);
  }

  arrayLength(): number {
    return this.#containerLength(0x90, 0xdc, 0xdd);
  }

  /** A str or bin holding strict UTF-8 (without CR or LF if `singleLine`), as the schema's `text`. */
  text(singleLine: boolean): string | undefined {
    const length = this.#stringLength();
    if (length < 0) return undefined;
    const start = this.#at;
    const end = start + length;
    let ascii = true;
    for (let i = start; i < end; i++) {
      const byte = this.bytes[i]!;
      if (byte >= 0x80) ascii = false;
      else if (singleLine && (byte === LF || byte === CR)) return undefined;
    }
    this.#at = end;
    this.textBytes += length;
    if (ascii && length <= SHORT_TEXT) return latin1(this.bytes, start, end);
    try {
      // A copy, not a view: on Bun a view of a fresh array first gives that array a buffer
      // of its own, which costs more than copying a string's bytes.
      return utf8.decode(this.bytes.slice(start, end));
    } catch {
      return undefined;
    }
  }

  /** An id as the schema takes it: 1 to MAX_ID_BYTES of UTF-8, or nil (null: no id); undefined if neither. */
  id(): string | null | undefined {
    if (this.bytes[this.#at] === NIL) {
      this.#at++;
      return null;
    }
    const length = this.#peekStringLength();
    if (length < 1 || length > MAX_ID_BYTES) return undefined;
    return this.text(false);
  }

  /** A map key's length (a str or bin), the reader then at its bytes; -1 if none. */
  keyLength(): number {
    return this.#stringLength();
  }

  /** Whether the next bytes are `name`, stepping over them if so. */
  matches(name: Uint8Array): boolean {
    return this.#matches(name);
  }

  #peekStringLength(): number {
    const at = this.#at;
    const length = this.#stringLength();
    this.#at = at;
    return length;
  }

  #matches(name: Uint8Array): boolean {
    for (let i = 0; i < name.length; i++) if (this.bytes[this.#at + i] !== name[i]) return false;
    this.#at += name.length;
    return true;
  }

  /** The length of a str or bin (any width), the reader then at its bytes; -1 if it is neither or cut short. */
  #stringLength(): number {
    const tag = this.bytes[this.#at];
    if (tag === undefined) return -1;
    let length: number;
    if (tag >= 0xa0 && tag <= 0xbf) {
      this.#at++;
      length = tag & 0x1f;
    } else if (tag === 0xd9 || tag === 0xc4) length = this.#length(1);
    else if (tag === 0xda || tag === 0xc5) length = this.#length(2);
    else if (tag === 0xdb || tag === 0xc6) length = this.#length(4);
    else return -1;
    return length >= 0 && this.#at + length <= this.bytes.length ? length : -1;
  }

  /** A map or array header: the fix form (length in the tag's low 4 bits) or a 16/32-bit length. */
  #containerLength(fix: number, tag16: number, tag32: number): number {
    const tag = this.bytes[this.#at];
    if (tag === undefined) return -1;
    if (tag >= fix && tag <= fix + 0x0f) {
      this.#at++;
      return tag & 0x0f;
    }
    return tag === tag16 ? this.#length(2) : tag === tag32 ? this.#length(4) : -1;
  }

  /** A big-endian length of `size` bytes after the tag. */
  #length(size: 1 | 2 | 4): number {
    const at = this.#at + 1;
    if (at + size > this.bytes.length) return -1;
    const b = this.bytes;
    this.#at = at + size;
    if (size === 1) return b[at]!;
    if (size === 2) return (b[at]! << 8) | b[at + 1]!;
    return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  }
}

function ascii(name: string): Uint8Array {
  return Uint8Array.from(name, (c) => c.charCodeAt(0));
}

/** Bytes below 0x80 as a string, without a TextDecoder call. */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  let out = "";
  for (let i = start; i < end; i++) out += String.fromCharCode(bytes[i]!);
  return out;
}

/** One decoder for all payloads: nothing re-enters it (the key converter never decodes). */
const msgpack = new Decoder({ rawStrings: true, mapKeyConverter: keyToString });

export function decodePayload(payload: Uint8Array): unknown {
  try {
    return msgpack.decode(payload);
  } catch {
    throw new PayloadError("payload is not valid msgpack");
  }
}

/** Python writes `bytes` keys as bin; read them as the names they spell. */
function keyToString(key: unknown): string | number {
  if (typeof key === "string" || typeof key === "number") return key;
  if (key instanceof Uint8Array) return utf8.decode(key);
  throw new Error("unsupported map key");
}

/** The first issue with its path: "events.0.topic: must not contain CR or LF". */
function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const path = issue.path.join(".");
  return path ? `${path}: ${issue.message}` : issue.message;
}

function byteLength(s: string): number {
  return utf8Bytes.encode(s).length;
}

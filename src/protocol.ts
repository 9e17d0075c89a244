/**
 * Token payloads → typed requests. Backends of the original server write msgpack from
 * Python (`msgpack`: maps, `bytes` as bin) or Rust (`rmp_serde`: structs as positional
 * arrays unless configured otherwise), so every struct is accepted in both forms,
 * strings as str (old-style raw included) or as bin holding UTF-8, unknown keys ignored.
 */
import { Decoder } from "@msgpack/msgpack";
import { z } from "zod";
import type { SseEvent } from "./sse.ts";

export interface Limits {
  readonly maxTopicsPerToken: number;
  readonly maxEventsPerSubmit: number;
  readonly maxEventBytes: number;
}

export interface SubscribeRequest {
  /** Distinct topics, in the order first named. */
  readonly topics: readonly string[];
}

export interface SubmitRequest {
  readonly events: readonly SseEvent[];
}

/** The payload is authentic but not a valid request; the message is safe to show. */
export class PayloadError extends Error {
  override name = "PayloadError";
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
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
export const subscribeSchema = struct({ topics: z.array(singleLine) });
const eventSchema = struct({ topic: singleLine, event: singleLine, data: text });
export const submitSchema = struct({ events: z.array(eventSchema) });

export function parseSubscribe(payload: Uint8Array, limits: Limits): SubscribeRequest {
  const value = decodePayload(payload);
  const topics = readTopics(value) ?? validate(subscribeSchema, value).topics;
  const distinct = [...new Set(topics)];
  if (distinct.length > limits.maxTopicsPerToken) {
    throw new PayloadError(`too many topics: ${distinct.length} > ${limits.maxTopicsPerToken}`);
  }
  return { topics: distinct };
}

export function parseSubmit(payload: Uint8Array, limits: Limits): SubmitRequest {
  const value = decodePayload(payload);
  const events = readEvents(value) ?? validate(submitSchema, value).events;
  if (events.length > limits.maxEventsPerSubmit) {
    throw new PayloadError(`too many events: ${events.length} > ${limits.maxEventsPerSubmit}`);
  }
  events.forEach((e, i) => {
    const size = byteLength(e.topic) + byteLength(e.event) + byteLength(e.data);
    if (size > limits.maxEventBytes) {
      throw new PayloadError(`event ${i} is ${size} bytes, over the limit of ${limits.maxEventBytes}`);
    }
  });
  return { events };
}

function validate<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new PayloadError(`invalid payload: ${describeIssue(result.error)}`);
}

// The hot path (every connect, every submitted event): the same rules as the schemas,
// read by hand, without zod's per-value work. Anything they do not accept outright is
// `undefined` and goes to the schema, which decides and words the error.

function readTopics(value: unknown): string[] | undefined {
  const topics = field(value, 0, "topics");
  if (!Array.isArray(topics)) return undefined;
  const out = new Array<string>(topics.length);
  for (let i = 0; i < topics.length; i++) {
    const topic = readText(topics[i], true);
    if (topic === undefined) return undefined;
    out[i] = topic;
  }
  return out;
}

function readEvents(value: unknown): SseEvent[] | undefined {
  const events = field(value, 0, "events");
  if (!Array.isArray(events)) return undefined;
  const out = new Array<SseEvent>(events.length);
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const topic = readText(field(e, 0, "topic"), true);
    const event = readText(field(e, 1, "event"), true);
    const data = readText(field(e, 2, "data"), false);
    if (topic === undefined || event === undefined || data === undefined) return undefined;
    out[i] = { topic, event, data };
  }
  return out;
}

/** A struct's field, from rmp_serde's positional array or a decoded map. */
function field(value: unknown, index: number, name: string): unknown {
  if (Array.isArray(value)) return value[index];
  if (typeof value !== "object" || value === null || ArrayBuffer.isView(value)) return undefined;
  return Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined;
}

const LF = 10;
const CR = 13;

function readText(value: unknown, singleLine: boolean): string | undefined {
  // isView, not only instanceof: a map whose bin key spells "__proto__" is an object with a
  // Uint8Array prototype, which passes instanceof and is no array at all.
  if (!(value instanceof Uint8Array) || !ArrayBuffer.isView(value)) return undefined;
  if (singleLine && (value.includes(LF) || value.includes(CR))) return undefined;
  try {
    return utf8.decode(value);
  } catch {
    return undefined;
  }
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

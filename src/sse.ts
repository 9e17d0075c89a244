/**
 * SSE framing (WHATWG HTML, "Server-sent events"): an event becomes the bytes of one
 * message, encoded once and shared by every subscriber that receives it.
 */

const encoder = new TextEncoder();
const LINE_BREAK = /\r\n|\r|\n/;

/** One published event, as validated from a submission. */
export interface SseEvent {
  readonly topic: string;
  readonly event: string;
  readonly data: string;
}

/**
 * Frames one event. The event name is omitted when empty (the browser then dispatches a
 * plain `message`); data always yields at least one `data:` line, because a message
 * without any is never dispatched, and the original server's clients send empty data.
 * `id`, when given, becomes the stream position a reconnecting client sends back.
 */
export function encodeEvent(event: string, data: string, id?: string): Uint8Array {
  return encodeUtf8(frameText(event, data, id));
}

/** The text of an event's frame (encodeEvent's, before UTF-8). */
function frameText(event: string, data: string, id?: string): string {
  let text = id === undefined ? "" : `id: ${id}\n`;
  if (event !== "") text += `event: ${event}\n`;
  // Most data is one line: no array of lines to make.
  if (!LINE_BREAK.test(data)) return `${text}data: ${data}\n\n`;
  for (const line of data.split(LINE_BREAK)) text += `data: ${line}\n`;
  return text + "\n";
}

/** The most bytes `writeAsciiFrame` can write for an event with these fields. */
export function asciiFrameBound(idPrefix: string, event: string, data: string): number {
  // "id: " prefix digits(<= 11) "\n" ["event: " event "\n"] "data: " data "\n\n"
  return 4 + idPrefix.length + 12 + (event === "" ? 0 : 8 + event.length) + 8 + data.length;
}

/**
 * Writes, at `offset` in `target`, exactly what `encodeEvent(event, data, idPrefix +
 * seq.toString(36))` would give, with no string or array made on the way, and returns its
 * length; or -1 when the event is not ASCII on one line (then use encodeEvent; the bytes
 * written here are to be ignored). Needs `asciiFrameBound(...)` bytes of room. For the
 * history, which keeps every event, most of them heard by no stream at the time.
 */
export function writeAsciiFrame(target: Uint8Array, offset: number, idPrefix: string, seq: number, event: string, data: string): number {
  let p = writeText(target, offset, "id: ");
  p = writeText(target, p, idPrefix);
  let digits = 1;
  for (let v = seq; v >= 36; v = Math.floor(v / 36)) digits++;
  for (let i = digits - 1, v = seq; i >= 0; i--, v = Math.floor(v / 36)) target[p + i] = BASE36[v % 36]!;
  p += digits;
  target[p++] = NEWLINE;
  if (event !== "") {
    p = writeText(target, p, "event: ");
    p = writeLine(target, p, event);
    if (p < 0) return -1;
  }
  p = writeText(target, p, "data: ");
  p = writeLine(target, p, data);
  if (p < 0) return -1;
  target[p++] = NEWLINE;
  return p - offset;
}

const NEWLINE = 0x0a;
const BASE36 = Uint8Array.from("0123456789abcdefghijklmnopqrstuvwxyz", (c) => c.charCodeAt(0));

/** Writes ASCII text known to be so; returns where it ended. */
function writeText(target: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) target[at + i] = text.charCodeAt(i);
  return at + text.length;
}

/** Past this many characters, TextEncoder writes a line faster than a loop does (~50 vs ~340 ns at 300). */
const NATIVE_LINE = 48;

/** Writes `text` and a line break, if it is ASCII with no line break of its own; else -1. */
function writeLine(target: Uint8Array, at: number, text: string): number {
  if (text.length > NATIVE_LINE) {
    if (text.indexOf("\n") >= 0 || text.indexOf("\r") >= 0) return -1;
    // Room for one byte a character: all of it read and written means all of it ASCII.
    const { read, written } = encoder.encodeInto(text, target.subarray(at, at + text.length));
    if (read !== text.length || written !== text.length) return -1;
    target[at + text.length] = NEWLINE;
    return at + text.length + 1;
  }
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit > 0x7f || unit === 0x0a || unit === 0x0d) return -1;
    target[at + i] = unit;
  }
  target[at + text.length] = NEWLINE;
  return at + text.length + 1;
}

/**
 * UTF-8 of `text`. ASCII (most frames) is written into an array of its exact length:
 * TextEncoder.encode gives each result an ArrayBuffer of its own, which a process keeping
 * many frames (the history) pays for in garbage collection. Anything else is encoded so.
 */
function encodeUtf8(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  // Every UTF-16 unit takes at least one byte: all of it read means one byte each.
  return encoder.encodeInto(text, bytes).read === text.length ? bytes : encoder.encode(text);
}

/** A comment line: ignored by every client, keeps proxies and NATs from idling out. */
export function encodeComment(text: string): Uint8Array {
  return encoder.encode(`: ${text}\n\n`);
}

/** Sent as soon as a stream opens, so the response headers and first bytes leave at once. */
export const OPEN_FRAME = encodeComment("ok");

/**
 * An opening frame that also sets the client's last event id without dispatching an
 * event (a message with no data only updates the id), so a stream that sees no event
 * before it drops can still resume from where it started.
 */
export function encodeOpenFrame(id: string): Uint8Array {
  // Streams opened between two events start at the same id: they share one frame.
  if (lastOpenFrame?.id !== id) lastOpenFrame = { id, frame: encoder.encode(`: ok\nid: ${id}\n\n`) };
  return lastOpenFrame.frame;
}
let lastOpenFrame: { readonly id: string; readonly frame: Uint8Array } | undefined;
export const HEARTBEAT_FRAME = encodeComment("");

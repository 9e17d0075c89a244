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
  let text = id === undefined ? "" : `id: ${id}\n`;
  if (event !== "") text += `event: ${event}\n`;
  for (const line of data.split(LINE_BREAK)) text += `data: ${line}\n`;
  return encodeUtf8(text + "\n");
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

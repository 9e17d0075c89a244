/**
 * How a stream starts: fresh, resumed (the missed events replayed), or reset (the client
 * is told that history cannot cover its gap and it must resync). From the process's own
 * history (synchronous), or from one a broker shares (its answer, framed here).
 */
import type { GapReason, History } from "./history.ts";
import { encodeEvent, encodeOpenFrame, OPEN_FRAME } from "./sse.ts";
import type { SharedStart } from "./transport/transport.ts";

export interface StreamStart {
  /** The first bytes of the stream. */
  readonly opening: Uint8Array;
  /** Frames to send before live events: the replay, or the reset signal. */
  readonly backlog: readonly Uint8Array[];
  readonly outcome: "fresh" | "resumed" | GapReason;
}

/** The event that tells a client its stream has a gap; its data says why. */
export const RESET_EVENT = "reset";

export function startStream(
  history: History | undefined,
  topics: readonly string[],
  lastEventId: string | undefined,
  prefixes: readonly string[] = [],
): StreamStart {
  if (lastEventId === undefined) {
    // Numbering the start lets a stream that drops before any event still resume.
    return { opening: history ? encodeOpenFrame(history.currentId) : OPEN_FRAME, backlog: [], outcome: "fresh" };
  }
  const result = history ? history.resume(topics, lastEventId, prefixes) : ({ ok: false, reason: "history-off" } as const);
  if (result.ok) {
    return { opening: OPEN_FRAME, backlog: result.entries.map((e) => e.frame), outcome: "resumed" };
  }
  // The reset carries the current position, so the next reconnect resumes from here.
  const reset = encodeEvent(RESET_EVENT, result.reason, history?.currentId);
  return { opening: OPEN_FRAME, backlog: [reset], outcome: result.reason };
}

/** The start a shared history answered, as frames. */
export function startFromShared(start: SharedStart): StreamStart {
  const { missed } = start;
  if (missed === undefined) return { opening: encodeOpenFrame(start.afterId), backlog: [], outcome: "fresh" };
  if (missed.ok) {
    const backlog = missed.events.map(({ event, data, id }) => encodeEvent(event, data, id));
    return { opening: OPEN_FRAME, backlog, outcome: "resumed" };
  }
  return { opening: OPEN_FRAME, backlog: [encodeEvent(RESET_EVENT, missed.reason, start.afterId)], outcome: missed.reason };
}

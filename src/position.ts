/**
 * Stream positions as clients see them: the `id:` of each event, sent back as
 * `Last-Event-ID` on reconnect. One format for every history:
 *
 *   `<epoch>-<position in base 36>`
 *
 * `position` is one number that orders every event a server numbers, across all topics,
 * so a single short id says how far a stream got in all of its topics. `epoch` names the
 * numbering (a process, or a Redis dataset), so that an id from another one is recognised
 * as unknown rather than misread.
 */
import type { SseEvent } from "./sse.ts";

/** An event numbered by a shared history, as it reaches the hub. */
export interface NumberedEvent extends SseEvent {
  readonly position: number;
  /** Its public id, `<epoch>-<position base 36>`. */
  readonly id: string;
}

export interface ParsedId {
  readonly epoch: string;
  readonly position: number;
}

export function formatId(epoch: string, position: number): string {
  return `${epoch}-${position.toString(36)}`;
}

/** Reads an id back; undefined when it is not one of ours (any epoch is accepted here). */
export function parseId(id: string): ParsedId | undefined {
  const dash = id.lastIndexOf("-");
  if (dash <= 0) return undefined;
  const epoch = id.slice(0, dash);
  const digits = id.slice(dash + 1);
  if (!/^[0-9a-z]{1,11}$/.test(digits) || !/^[0-9a-z]+$/.test(epoch)) return undefined;
  const position = parseInt(digits, 36);
  return Number.isSafeInteger(position) ? { epoch, position } : undefined;
}

/** A random epoch: 7 base-36 characters. */
export function randomEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint32Array(1));
  return bytes[0]!.toString(36).padStart(7, "0");
}

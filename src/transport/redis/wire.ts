/**
 * What travels through Redis: a submission cut into per-topic messages, each the msgpack
 * of its events as `[topic, event, data]` triples. Triples rather than maps: the keys
 * would be repeated in every event and add nothing a peer of the same version needs.
 */
import { decode, encode } from "@msgpack/msgpack";
import { formatId, type NumberedEvent } from "../../position.ts";
import type { SseEvent } from "../../sse.ts";

/** Consecutive events of one submission that go to the same channel. */
export interface TopicBatch {
  readonly topic: string;
  readonly events: readonly SseEvent[];
}

/**
 * Runs of consecutive events with the same topic, in submission order: `[a1, a2, b1, a3]`
 * → `a[1,2]`, `b[1]`, `a[3]`. Published in order through one Redis node, whose
 * subscribers see all channels in one order, they rebuild the exact submission order.
 */
export function topicRuns(events: readonly SseEvent[]): TopicBatch[] {
  const runs: { topic: string; events: SseEvent[] }[] = [];
  for (const event of events) {
    const last = runs[runs.length - 1];
    if (last?.topic === event.topic) last.events.push(event);
    else runs.push({ topic: event.topic, events: [event] });
  }
  return runs;
}

/**
 * One batch per topic, each keeping its events' order: `[a1, b1, a2]` → `a[1,2]`, `b[1]`.
 * For sharded pub/sub, where only the order within a channel is kept anyway, so runs
 * would only cost more messages.
 */
export function topicGroups(events: readonly SseEvent[]): TopicBatch[] {
  const groups = new Map<string, SseEvent[]>();
  for (const event of events) {
    const group = groups.get(event.topic);
    if (group) group.push(event);
    else groups.set(event.topic, [event]);
  }
  return [...groups].map(([topic, grouped]) => ({ topic, events: grouped }));
}

export function encodeBatch(events: readonly SseEvent[]): Uint8Array {
  return encode(events.map(({ topic, event, data }) => [topic, event, data]));
}

/** A message that is not a batch of ours (another version or another program on the channel). */
export class WireError extends Error {
  override name = "WireError";
}

export function decodeBatch(payload: Uint8Array): SseEvent[] {
  let triples: unknown;
  try {
    triples = decode(payload);
  } catch (error) {
    throw new WireError(`not msgpack: ${String(error)}`);
  }
  if (!Array.isArray(triples)) throw new WireError("not an array of events");
  return triples.map((triple: unknown) => {
    if (!Array.isArray(triple) || triple.length !== 3 || !triple.every((field) => typeof field === "string")) {
      throw new WireError("an event is not a [topic, event, data] triple of strings");
    }
    const [topic, event, data] = triple as [string, string, string];
    return { topic, event, data };
  });
}

/**
 * A run as the shared history's script publishes it (see ./history.ts):
 * msgpack `[epoch, ms, n, topic, event, data, event, data, ...]`, where (ms, n) is the
 * first event's position and the others follow consecutively.
 */
export function decodeNumberedRun(payload: Uint8Array, positionsPerMs: number): NumberedEvent[] {
  let fields: unknown;
  try {
    fields = decode(payload);
  } catch (error) {
    throw new WireError(`not msgpack: ${String(error)}`);
  }
  if (!Array.isArray(fields) || fields.length < 6 || fields.length % 2 !== 0) {
    throw new WireError("not a numbered run [epoch, ms, n, topic, event, data, ...]");
  }
  const [epoch, ms, n, topic] = fields as unknown[];
  if (typeof epoch !== "string" || typeof topic !== "string" || !Number.isSafeInteger(ms) || !Number.isSafeInteger(n)) {
    throw new WireError("a numbered run's header is not [epoch, ms, n, topic]");
  }
  const first = (ms as number) * positionsPerMs + (n as number);
  const events: NumberedEvent[] = [];
  for (let i = 4; i < fields.length; i += 2) {
    const event: unknown = fields[i];
    const data: unknown = fields[i + 1];
    if (typeof event !== "string" || typeof data !== "string") throw new WireError("an event is not [event, data] strings");
    const position = first + (i - 4) / 2;
    events.push({ topic, event, data, position, id: formatId(epoch, position) });
  }
  return events;
}

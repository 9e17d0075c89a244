/** Reading SSE_PRESENCE_EVENTS' events off a stream of the system topic. */
import type { EventStream } from "./sse.ts";

export interface PresenceEvent {
  readonly event: string;
  readonly topic: string;
  readonly count: number;
}

/** The next `n` presence events about `topic` (those about others are passed over). */
export async function presenceEvents(stream: EventStream, topic: string, n: number, timeoutMs = 5000): Promise<PresenceEvent[]> {
  const found: PresenceEvent[] = [];
  while (found.length < n) {
    const [received] = await stream.next(1, timeoutMs);
    const data = JSON.parse(received!.data) as { topic: string; count: number };
    if (data.topic === topic) found.push({ event: received!.event, ...data });
  }
  return found;
}

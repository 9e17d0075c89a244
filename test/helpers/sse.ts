/**
 * Reads an event stream as a browser would: a WHATWG-faithful parser
 * (`eventsource-parser`) over the raw bytes of a real HTTP response.
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";

export interface ReceivedEvent {
  /** `message` when the stream named none, as EventSource dispatches it. */
  readonly event: string;
  readonly data: string;
  readonly id: string | undefined;
}

export interface EventStream {
  readonly response: Response;
  /** Resolves with the next `n` events; rejects if the stream ends first or `timeoutMs` passes. */
  next(n?: number, timeoutMs?: number): Promise<ReceivedEvent[]>;
  /** Events received so far and not yet taken by `next`. */
  readonly pending: readonly ReceivedEvent[];
  /** Comments seen so far (heartbeats, the opening comment). */
  readonly comments: readonly string[];
  /**
   * The id a browser would send back on reconnect. Tracked from the raw lines, since
   * a message with an id and no data updates it without dispatching an event.
   */
  readonly lastEventId: () => string | undefined;
  /** Raw body bytes received so far. */
  readonly bytesReceived: () => number;
  /** Resolves when the server ends the stream (true) or it errors (false). */
  readonly ended: Promise<boolean>;
  close(): void;
}

export async function openStream(url: string, init?: RequestInit): Promise<EventStream> {
  const abort = new AbortController();
  const response = await fetch(url, { ...init, signal: abort.signal });
  const pending: ReceivedEvent[] = [];
  const comments: string[] = [];
  let wake: () => void = () => {};
  let finished = false;
  let lastEventId: string | undefined;
  let partialLine = "";
  let bytes = 0;
  const parser = createParser({
    onEvent: (m: EventSourceMessage) => {
      pending.push({ event: m.event ?? "message", data: m.data, id: m.id });
      wake();
    },
    onComment: (c) => {
      comments.push(c);
      wake();
    },
  });
  const ended = (async () => {
    if (!response.body) return false;
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return true;
        bytes += value.length;
        const text = decoder.decode(value, { stream: true });
        const lines = (partialLine + text).split(/\r\n|\r|\n/);
        partialLine = lines.pop()!;
        for (const line of lines) if (line.startsWith("id:")) lastEventId = line.slice(3).replace(/^ /, "");
        parser.feed(text);
      }
    } catch {
      return false;
    } finally {
      finished = true;
      wake();
    }
  })();

  async function next(n = 1, timeoutMs = 5000): Promise<ReceivedEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (pending.length < n) {
      if (finished) throw new Error(`stream ended after ${pending.length} of ${n} events`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out with ${pending.length} of ${n} events`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => (clearTimeout(timer), resolve());
      });
    }
    return pending.splice(0, n);
  }

  return {
    response,
    next,
    pending,
    comments,
    lastEventId: () => lastEventId,
    bytesReceived: () => bytes,
    ended,
    close: () => abort.abort(),
  };
}

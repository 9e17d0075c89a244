/**
 * A suite's client side against running servers: opens streams (remembered, so the suite
 * closes whatever is left in afterAll) and submits events.
 */
import { expect } from "bun:test";
import { eventsUrl, postSubmit, type RunningServer } from "./server.ts";
import { openStream, type EventStream } from "./sse.ts";
import { prefixToken, submitToken, subscribeToken, type TestEvent } from "./tokens.ts";

export interface SuiteClient {
  /** Opens a stream for `topics` on `server`, resuming from `lastId` when given. */
  subscribe(server: RunningServer, topics: readonly string[], lastId?: string): Promise<EventStream>;
  /** Opens a stream granted `topics` and every topic under `prefixes`. */
  subscribePrefixes(server: RunningServer, topics: readonly string[], prefixes: readonly string[], lastId?: string): Promise<EventStream>;
  /** Submits events; resolves with "<status> <body>", e.g. "200 OK". */
  submitStatus(server: RunningServer, events: readonly TestEvent[]): Promise<string>;
  /** Submits events and fails the test unless the server answers "200 OK". */
  submit(server: RunningServer, events: readonly TestEvent[]): Promise<void>;
  /** Remembers a stream opened some other way, so closeAll closes it too. */
  track(stream: EventStream): EventStream;
  closeAll(): void;
}

export function suiteClient(): SuiteClient {
  const open: EventStream[] = [];
  const client: SuiteClient = {
    async subscribe(server, topics, lastId) {
      return client.track(await openStream(eventsUrl(server, subscribeToken(topics)), { headers: resumeHeaders(lastId) }));
    },
    async subscribePrefixes(server, topics, prefixes, lastId) {
      const url = eventsUrl(server, prefixToken(topics, prefixes));
      return client.track(await openStream(url, { headers: resumeHeaders(lastId) }));
    },
    async submitStatus(server, events) {
      const response = await postSubmit(server, submitToken(events));
      return `${response.status} ${await response.text()}`;
    },
    async submit(server, events) {
      expect(await client.submitStatus(server, events)).toBe("200 OK");
    },
    track(stream) {
      open.push(stream);
      return stream;
    },
    closeAll() {
      for (const stream of open.splice(0)) stream.close();
    },
  };
  return client;
}

const resumeHeaders = (lastId: string | undefined): Record<string, string> => (lastId ? { "Last-Event-ID": lastId } : {});

/**
 * The backend half of sse-server's protocol, as an app that uses it would write it:
 * every token is msgpack sealed with Branca under the shared secret. Browsers get a
 * subscribe token inside a stream URL; events go out as a `submit` POST.
 */
import { encode } from "@msgpack/msgpack";
import { createBranca } from "../../src/token/branca.ts";

export interface PublishedEvent {
  readonly topic: string;
  /** Empty for a plain `message`; otherwise the name a page listens for. */
  readonly event: string;
  readonly data: string;
}

export interface SsePublisherOptions {
  /** The 32-byte key the SSE server was started with (SSE_SECRET). */
  readonly secret: Uint8Array;
  /** Where this app reaches the SSE server, server to server. */
  readonly privateUrl: string;
  /** Where browsers reach it; differs from `privateUrl` behind a proxy or in docker-compose. */
  readonly publicUrl: string;
  /** Bounds each `submit`, so that a stuck SSE server cannot hang a request of ours. */
  readonly submitTimeoutMs?: number;
}

export interface SsePublisher {
  /**
   * A stream URL for these topics, with a token minted now (so it starts its TTL now);
   * with the page's last event id passed on, so the stream resumes after it.
   */
  streamUrl(topics: readonly string[], lastEventId?: string): string;
  /** The SSE server's browser client, for pages to import. */
  readonly clientUrl: string;
  /** Submits events; rejects unless the SSE server accepted them. */
  publish(events: readonly PublishedEvent[]): Promise<void>;
}

export function createSsePublisher(options: SsePublisherOptions): SsePublisher {
  const branca = createBranca(options.secret);
  const seal = (value: unknown): string => branca.encode(encode(value));
  const publicUrl = options.publicUrl.replace(/\/+$/, "");
  const privateUrl = options.privateUrl.replace(/\/+$/, "");
  return {
    streamUrl(topics, lastEventId) {
      const url = `${publicUrl}/events?token=${encodeURIComponent(seal({ topics }))}`;
      return lastEventId ? `${url}&lastEventId=${encodeURIComponent(lastEventId)}` : url;
    },
    clientUrl: `${publicUrl}/client.js`,
    async publish(events) {
      const response = await fetch(`${privateUrl}/submit`, {
        method: "POST",
        body: seal({ events }),
        signal: AbortSignal.timeout(options.submitTimeoutMs ?? 5000),
      });
      const answer = await response.text();
      if (!response.ok) throw new Error(`sse-server refused the submission (${response.status}): ${answer}`);
    },
  };
}

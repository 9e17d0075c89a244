/**
 * One subscriber's response body: a ReadableStream fed by the hub. The runtime pulls
 * frames as the socket drains; frames it has not taken yet wait in the stream's queue,
 * and a subscriber that lets more than `maxBuffered` pile up is disconnected, never
 * silently skipped.
 */
import type { Subscriber } from "./hub.ts";

export type EndReason = "client" | "slow" | "server";

export class SubscriberStream implements Subscriber {
  readonly body: ReadableStream<Uint8Array>;
  active = true;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #open = true;
  #maxBuffered: number;
  readonly #onEnd: (reason: EndReason) => void;

  /** `opening` goes out at once, so headers and first bytes leave before any event. */
  constructor(opening: Uint8Array, maxBuffered: number, onEnd: (reason: EndReason) => void) {
    this.#maxBuffered = maxBuffered;
    this.#onEnd = onEnd;
    // highWaterMark 0: desiredSize is minus the number of frames not yet taken.
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
          controller.enqueue(opening);
        },
        cancel: () => this.#finish("client"),
      },
      { highWaterMark: 0 },
    );
  }

  push(frame: Uint8Array): void {
    if (!this.#open) return;
    this.active = true;
    if (-(this.#controller.desiredSize ?? 0) >= this.#maxBuffered) {
      // Erroring (not closing) drops the backlog now and aborts the connection.
      this.#controller.error(new Error("subscriber too slow"));
      this.#finish("slow");
      return;
    }
    this.#controller.enqueue(frame);
  }

  /**
   * Queues frames owed from before the stream opened (a replay). They do not count
   * against the bound for live events: the client has not had a chance to read yet.
   */
  replay(frames: readonly Uint8Array[]): void {
    for (const frame of frames) this.#controller.enqueue(frame);
    this.#maxBuffered += frames.length;
  }

  end(): void {
    if (!this.#open) return;
    this.#controller.close();
    this.#finish("server");
  }

  #finish(reason: EndReason): void {
    if (!this.#open) return;
    this.#open = false;
    this.#onEnd(reason);
  }
}

/**
 * One subscriber's response body: a ReadableStream fed by the hub. The runtime pulls
 * frames as the socket drains; frames it has not taken yet wait in the stream's queue,
 * and a subscriber that lets more than `maxBuffered` pile up is disconnected, never
 * silently skipped.
 */
import type { Subscriber } from "./hub.ts";
import { OPEN_FRAME } from "./sse.ts";

export type EndReason = "client" | "slow" | "server";

export class SubscriberStream implements Subscriber {
  readonly body: ReadableStream<Uint8Array>;
  active = true;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #open = true;
  readonly #maxBuffered: number;
  readonly #onEnd: (reason: EndReason) => void;

  constructor(maxBuffered: number, onEnd: (reason: EndReason) => void) {
    this.#maxBuffered = maxBuffered;
    this.#onEnd = onEnd;
    // highWaterMark 0: desiredSize is minus the number of frames not yet taken.
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
          controller.enqueue(OPEN_FRAME);
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

/**
 * A stream's place in the hub while its start is fetched from a shared history. It joins
 * the hub before the history is asked, so no live event can fall between the answer and
 * the subscription; it holds the live events meanwhile, and once the stream exists hands
 * it those after the start's position — and, from then on, every live event after it
 * (one that the answer already covered may still arrive late, on another connection).
 */
import type { Subscriber } from "./hub.ts";

interface Held {
  readonly frame: Uint8Array;
  readonly position: number;
}

export class StartingSubscriber implements Subscriber {
  readonly #maxHeld: number;
  #target: Subscriber | undefined;
  #held: Held[] = [];
  /** Events up to here are in the start (replayed, or before the stream): dropped. */
  #after = -Infinity;
  #ended = false;

  constructor(maxHeld: number) {
    this.#maxHeld = maxHeld;
  }

  /** Ended before it was attached: by shutdown, a lost broker, or too much held. */
  get ended(): boolean {
    return this.#ended;
  }

  get active(): boolean {
    return this.#target?.active ?? true;
  }

  set active(value: boolean) {
    if (this.#target) this.#target.active = value;
  }

  push(frame: Uint8Array, position?: number): void {
    if (position !== undefined && position <= this.#after) return;
    if (this.#target) return this.#target.push(frame, position);
    if (position === undefined || this.#ended) return; // a heartbeat, before the stream began
    if (this.#held.length >= this.#maxHeld) return this.end();
    this.#held.push({ frame, position });
  }

  /** The stream has started with everything up to `after`: from now on it gets what follows. */
  attach(target: Subscriber, after: number): void {
    this.#after = after;
    this.#target = target;
    const held = this.#held;
    this.#held = [];
    for (const { frame, position } of held) if (position > after) target.push(frame, position);
  }

  end(): void {
    if (this.#target) return this.#target.end();
    this.#ended = true;
    this.#held = [];
  }
}

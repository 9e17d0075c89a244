/**
 * The `retry:` line each stream opens with: a reconnection delay drawn at random per
 * stream, so that after a restart or a drain the browsers' plain `EventSource`s come back
 * spread over [min, max] instead of all at once. The delays are drawn in 64 steps across
 * the range, and each step's frame is encoded once and shared.
 */
const encoder = new TextEncoder();
const STEPS = 64;

export class RetryFrames {
  readonly #frames = new Map<number, Uint8Array>();

  constructor(
    readonly minMs: number,
    readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** A delay in [minMs, maxMs], on one of the range's steps. */
  drawMs(): number {
    const step = Math.min(STEPS, Math.floor(this.random() * (STEPS + 1)));
    return Math.round(this.minMs + ((this.maxMs - this.minMs) * step) / STEPS);
  }

  /** `retry: <drawn delay>`, alone in a message (which dispatches no event). */
  next(): Uint8Array {
    const ms = this.drawMs();
    let frame = this.#frames.get(ms);
    if (frame === undefined) this.#frames.set(ms, (frame = encoder.encode(`retry: ${ms}\n\n`)));
    return frame;
  }
}

/**
 * Token verification that keeps the event loop free. Base62 decoding costs more than
 * linear time in the token's length (BENCHMARKS.md, "Unauthenticated input"), and anyone
 * can send a long token without a key. So:
 *
 * - a token up to `inlineMaxChars` (every token a backend normally mints: 130-1000
 *   characters) is verified here, synchronously, in tens of microseconds;
 * - a longer one goes to a worker thread, through a queue bounded in jobs and in
 *   characters. When the queue is full the token is refused at once with
 *   `VerifierBusy` (503 + Retry-After), never decoded here.
 *
 * A worker runs the start-up known-answer test (./self-test.ts) on its own copy of the
 * crypto before it says it is ready; the server does not start until the first one has.
 * A worker that dies, fails that test, answers a job with something other than a token's
 * verdict, or makes no progress for `stallMs`, is stopped: its pending jobs fail with
 * `VerifierBusy` and it is replaced, no sooner than `respawnDelayMs` later (a worker that
 * cannot start must not become a spawn per request). Portable: the runtime's entry point
 * supplies `spawnWorker`.
 */
import { TokenError, type Branca, type OpenedToken, type TokenRejection } from "./branca.ts";
import { SelfTestError } from "./self-test.ts";

/** The first message to a worker: the key its codec is built with. */
export interface WorkerInit {
  readonly kind: "init";
  readonly secret: Uint8Array;
}

export interface VerifyJob {
  readonly kind: "verify";
  readonly id: number;
  readonly token: string;
  /** Seconds; 0 = no expiry check (as `BrancaOptions.ttl`). */
  readonly ttl: number;
}

export type WorkerRequest = WorkerInit | VerifyJob;

export type VerifyReply =
  | { readonly id: number; readonly ok: true; readonly payload: Uint8Array; readonly timestamp: number }
  /** `reason` null: something other than a TokenError was thrown (a bug, not the client's token). */
  | { readonly id: number; readonly ok: false; readonly reason: TokenRejection | null; readonly message: string };

/** A worker's answer to `init`: its crypto passed the known-answer test, or why not. */
export type WorkerStatus = { readonly kind: "ready" } | { readonly kind: "failed"; readonly message: string };

export type WorkerReply = VerifyReply | WorkerStatus;

/** What a spawned worker tells its owner. */
export interface TokenWorkerEvents {
  message(reply: WorkerReply): void;
  /** The worker failed or stopped; it will answer nothing more. */
  exit(why: string): void;
}

export interface TokenWorker {
  post(request: WorkerRequest): void;
  terminate(): void;
}

/** Starts one worker running `serveTokenVerification` (./worker.ts). Runtime-specific. */
export type SpawnTokenWorker = (events: TokenWorkerEvents) => TokenWorker;

/** Verification is saturated or restarting: the client should retry shortly (503). */
export class VerifierBusy extends Error {
  override name = "VerifierBusy";
}

export interface TokenVerifierOptions {
  readonly branca: Branca;
  readonly secret: Uint8Array;
  readonly ttlSeconds: number;
  /** Without it every token is verified inline (in-process tests, embedding). */
  readonly spawnWorker?: SpawnTokenWorker;
  readonly inlineMaxChars?: number;
  readonly maxQueuedJobs?: number;
  readonly maxQueuedChars?: number;
  readonly respawnDelayMs?: number;
  /** A worker with jobs that answers none for this long is taken for hung and replaced. */
  readonly stallMs?: number;
  /** Told when a worker dies (for the log). */
  readonly onWorkerExit?: (why: string) => void;
}

/**
 * Longest token verified inline. Measured on Bun (BENCHMARKS.md): ~40 µs for a 2 KiB
 * token, ~0.1 ms at 4 KiB, 4.5 ms at 64 KiB.
 */
export const INLINE_MAX_CHARS = 2048;
/** Jobs and characters waiting for the worker: about 80 ms of its work at 64 KiB a token. */
export const MAX_QUEUED_JOBS = 256;
export const MAX_QUEUED_CHARS = 1024 * 1024;
export const RESPAWN_DELAY_MS = 1000;
/** Far above a full queue's work at the default limits (256 tokens of 64 KiB: ~1.5 s). */
export const STALL_MS = 10_000;
/** How long the server waits at start-up for the first worker to pass its self-test. */
export const START_TIMEOUT_MS = 15_000;

interface Pending {
  readonly chars: number;
  resolve(opened: OpenedToken): void;
  reject(error: Error): void;
}

export class TokenVerifier {
  readonly #branca: Branca;
  readonly #secret: Uint8Array;
  readonly #ttl: number;
  readonly #spawnWorker: SpawnTokenWorker | undefined;
  readonly #inlineMaxChars: number;
  readonly #maxQueuedJobs: number;
  readonly #maxQueuedChars: number;
  readonly #respawnDelayMs: number;
  readonly #stallMs: number;
  readonly #onWorkerExit: (why: string) => void;
  #worker: TokenWorker | undefined;
  /** Settles when the current worker says it is ready (or fails, or exits first). */
  #workerReady: Promise<void> | undefined;
  /** Stops the current worker: it died, failed, or stalled. */
  #stopWorker: ((why: string) => void) | undefined;
  /** When the worker last answered, or was handed a job while it had none. */
  #lastProgress = 0;
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
  /** performance.now() before which no new worker is started. */
  #respawnAt = 0;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #queuedChars = 0;
  #closed = false;
  #offloaded = 0;
  #refusedBusy = 0;

  constructor(options: TokenVerifierOptions) {
    this.#branca = options.branca;
    this.#secret = options.secret;
    this.#ttl = options.ttlSeconds;
    this.#spawnWorker = options.spawnWorker;
    this.#inlineMaxChars = options.inlineMaxChars ?? INLINE_MAX_CHARS;
    this.#maxQueuedJobs = options.maxQueuedJobs ?? MAX_QUEUED_JOBS;
    this.#maxQueuedChars = options.maxQueuedChars ?? MAX_QUEUED_CHARS;
    this.#respawnDelayMs = options.respawnDelayMs ?? RESPAWN_DELAY_MS;
    this.#stallMs = options.stallMs ?? STALL_MS;
    this.#onWorkerExit = options.onWorkerExit ?? (() => {});
    // Started now, so the first long token does not wait for it and a worker that cannot
    // start shows at start-up.
    if (this.#spawnWorker) this.#ensureWorker();
  }

  /** Tokens handed to a worker so far (for metrics). */
  get offloaded(): number {
    return this.#offloaded;
  }

  /** Long tokens refused with VerifierBusy so far (for metrics). */
  get refusedBusy(): number {
    return this.#refusedBusy;
  }

  /** Jobs waiting for (or being done by) the worker. */
  get queuedJobs(): number {
    return this.#pending.size;
  }

  /**
   * Verifies and decrypts; a problem with the token is a TokenError (sync, or the
   * Promise's rejection), a full queue or a dead worker is VerifierBusy.
   */
  open(token: string): OpenedToken | Promise<OpenedToken> {
    if (token.length <= this.#inlineMaxChars || !this.#spawnWorker) return this.#branca.open(token, { ttl: this.#ttl });
    return this.#offload(token);
  }

  /**
   * Resolves once the first worker has passed its known-answer test; rejects with
   * SelfTestError if it failed it, died, or did not answer within `timeoutMs`. At once
   * without a worker.
   */
  async started(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    if (!this.#spawnWorker) return;
    const ready = this.#workerReady;
    if (!ready) throw new SelfTestError("the token verification worker could not start");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SelfTestError(`the token verification worker was not ready within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the worker; pending jobs fail with VerifierBusy. */
  close(): void {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    this.#stopWorker = undefined;
    clearTimeout(this.#stallTimer);
    worker?.terminate();
    this.#failPending("the server is shutting down");
  }

  #offload(token: string): Promise<OpenedToken> {
    // Refused before any work on the token: under a flood this is all the main thread does.
    const queued = this.#pending.size;
    if (queued > 0 && (queued >= this.#maxQueuedJobs || this.#queuedChars + token.length > this.#maxQueuedChars)) {
      this.#refusedBusy++;
      return Promise.reject(new VerifierBusy("too many long tokens waiting for verification; retry later"));
    }
    const worker = this.#ensureWorker();
    if (!worker) {
      this.#refusedBusy++;
      return Promise.reject(new VerifierBusy("token verification is restarting; retry later"));
    }
    this.#offloaded++;
    const id = this.#nextId++;
    return new Promise<OpenedToken>((resolve, reject) => {
      if (this.#pending.size === 0) this.#lastProgress = performance.now();
      this.#pending.set(id, { chars: token.length, resolve, reject });
      this.#queuedChars += token.length;
      try {
        worker.post({ kind: "verify", id, token, ttl: this.#ttl });
      } catch (error) {
        this.#stopWorker?.(`could not be sent a job: ${String(error)}`); // fails this job too
        return;
      }
      this.#watchForStall();
    });
  }

  /** While jobs wait, checks that the worker keeps answering them. */
  #watchForStall(): void {
    if (this.#stallTimer !== undefined || this.#pending.size === 0) return;
    const wait = Math.max(0, this.#lastProgress + this.#stallMs - performance.now());
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      if (this.#pending.size === 0) return;
      if (performance.now() - this.#lastProgress >= this.#stallMs) {
        this.#stopWorker?.(`answered nothing for ${this.#stallMs} ms with ${this.#pending.size} tokens waiting`);
      } else {
        this.#watchForStall();
      }
    }, wait);
    // Timers keep no runtime's process alive for this (Node, Bun; Deno's have no unref).
    (this.#stallTimer as { unref?: () => void }).unref?.();
  }

  #ensureWorker(): TokenWorker | undefined {
    if (this.#worker || this.#closed || !this.#spawnWorker) return this.#worker;
    if (performance.now() < this.#respawnAt) return undefined;
    let worker: TokenWorker | undefined;
    let markReady: () => void = () => {};
    let markFailed: (error: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => ((markReady = resolve), (markFailed = reject)));
    ready.catch(() => {}); // only `started()` cares, and it may never be asked
    const stop = (why: string) => {
      markFailed(new SelfTestError(`the token verification worker ${why}`));
      if (worker === undefined || this.#worker !== worker) return; // already replaced or closed
      this.#worker = undefined;
      this.#stopWorker = undefined;
      this.#respawnAt = performance.now() + this.#respawnDelayMs;
      worker.terminate();
      this.#failPending("token verification failed and is restarting; retry later");
      this.#onWorkerExit(why);
    };
    const message = (reply: WorkerReply) => {
      if (worker === undefined || this.#worker !== worker) return;
      if ("id" in reply) return this.#settle(reply, stop);
      if (reply.kind === "ready") markReady();
      else stop(`failed its start-up self-test: ${reply.message}`);
    };
    try {
      worker = this.#spawnWorker({ message, exit: stop });
    } catch (error) {
      this.#respawnAt = performance.now() + this.#respawnDelayMs;
      this.#onWorkerExit(`could not start: ${String(error)}`);
      return undefined;
    }
    this.#worker = worker;
    this.#workerReady = ready;
    this.#stopWorker = stop;
    worker.post({ kind: "init", secret: this.#secret });
    return worker;
  }

  #settle(reply: VerifyReply, stopWorker: (why: string) => void): void {
    const job = this.#pending.get(reply.id);
    if (!job) return; // failed already, when an earlier worker died
    this.#lastProgress = performance.now();
    const reason = reply.ok ? undefined : reply.reason;
    // Not a verdict on the token: the worker itself is broken. Its jobs fail with 503s.
    if (reason === null) return stopWorker(`failed a job: ${(reply as { message: string }).message}`);
    this.#pending.delete(reply.id);
    this.#queuedChars -= job.chars;
    if (reply.ok) job.resolve({ payload: reply.payload, timestamp: reply.timestamp });
    else job.reject(new TokenError(reply.reason!, reply.message));
  }

  #failPending(message: string): void {
    const jobs = [...this.#pending.values()];
    this.#pending.clear();
    this.#queuedChars = 0;
    for (const job of jobs) job.reject(new VerifierBusy(message));
  }
}

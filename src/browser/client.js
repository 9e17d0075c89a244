// @ts-check
/**
 * sse-server's browser client: one ES module, no dependencies. `subscribe()` behaves like
 * an `EventSource` that never loses an event: it keeps the last event id, reconnects with
 * `lastEventId=` in the query (a fresh URL, so a fresh token, each time), backs off with
 * full jitter on failures, and shares one connection between the tabs of a browser.
 * Built on `fetch()` (an EventSource shows neither the status of a failure nor its last
 * id to a new EventSource). Types: ./client.d.ts.
 */

/**
 * @typedef {{ id?: string, event?: string, data?: string }} SseMessage
 *   What one blank line dispatches: `data` is absent when the message had no `data:` line
 *   (then only its `id`, if any, counts), `event` when it had no name.
 * @typedef {() => string | URL | Promise<string | URL>} UrlFunction
 * @typedef {{ baseMs: number, capMs: number, serverRetryMs?: number }} BackoffOptions
 */

const LINE_BREAK = /\r\n|\r|\n/g;

/**
 * A streaming parser for `text/event-stream` (WHATWG HTML, "Server-sent events"): feed it
 * decoded text in chunks cut anywhere; it calls `onMessage` at each blank line that ends
 * a message with a field, `onRetry` for a valid `retry:`, and `onComment` for a comment line.
 * @param {(message: SseMessage) => void} onMessage
 * @param {(ms: number) => void} [onRetry]
 * @param {(text: string) => void} [onComment]
 */
export function createSseParser(onMessage, onRetry, onComment) {
  let buffer = "";
  let afterCarriageReturn = false;
  /** @type {SseMessage} */
  let message = {};

  /** @param {string} line */
  function processLine(line) {
    if (line === "") {
      if (message.data !== undefined || message.id !== undefined) onMessage(message);
      message = {};
      return;
    }
    if (line.charCodeAt(0) === 58) {
      // ":" starts a comment
      onComment?.(line.charCodeAt(1) === 32 ? line.slice(2) : line.slice(1));
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === "data") message.data = message.data === undefined ? value : `${message.data}\n${value}`;
    else if (field === "event") message.event = value || undefined;
    else if (field === "id") {
      if (!value.includes("\0")) message.id = value;
    } else if (field === "retry" && /^\d+$/.test(value)) onRetry?.(Number(value));
  }

  return {
    /** @param {string} text */
    feed(text) {
      // A CR that ended the last chunk may be the first half of a CRLF.
      if (afterCarriageReturn && text.charCodeAt(0) === 10) text = text.slice(1);
      if (text === "") return;
      afterCarriageReturn = false;
      buffer += text;
      let start = 0;
      LINE_BREAK.lastIndex = 0;
      for (let match = LINE_BREAK.exec(buffer); match; match = LINE_BREAK.exec(buffer)) {
        processLine(buffer.slice(start, match.index));
        start = LINE_BREAK.lastIndex;
      }
      afterCarriageReturn = buffer.charCodeAt(buffer.length - 1) === 13;
      buffer = buffer.slice(start);
    },
    /** Forgets a partial message (a new connection starts a new stream). */
    reset() {
      buffer = "";
      afterCarriageReturn = false;
      message = {};
    },
  };
}

/**
 * How long to wait before reconnecting. After a stream that worked (`failures` 0), the
 * server's `retry:` (it draws one per stream, so clients spread out), else up to `baseMs`.
 * After failures, full jitter: random in [0, min(cap, base·2^failures)), never below the
 * server's `retry:`.
 * @param {number} failures consecutive failed attempts
 * @param {BackoffOptions} options
 * @param {() => number} [random]
 */
export function backoffDelay(failures, { baseMs, capMs, serverRetryMs }, random = Math.random) {
  if (failures <= 0) return serverRetryMs ?? Math.floor(random() * baseMs);
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(failures, 30));
  return Math.max(serverRetryMs ?? 0, Math.floor(random() * ceiling));
}

/** An HTTP answer that is not a stream: the error event carries its status. */
class StreamRefused extends Error {
  /** @param {number} status */
  constructor(status) {
    super(`the server answered ${status}`);
    this.status = status;
  }
}

/**
 * Resolves `source` to the URL to open now, with the last event id in the query.
 * @param {string | URL | UrlFunction} source
 * @param {string | undefined} lastEventId
 */
async function streamUrl(source, lastEventId) {
  const url = new URL(String(typeof source === "function" ? await source() : source), globalThis.location?.href);
  if (lastEventId !== undefined) url.searchParams.set("lastEventId", lastEventId);
  return url;
}

/** @param {number} ms @param {AbortSignal} signal */
const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", wake);
      resolve(undefined);
    };
    const timer = setTimeout(wake, ms);
    signal.addEventListener("abort", wake, { once: true });
  });

/**
 * @typedef {{ type: "open" } | { type: "error", status?: number, message: string }
 *   | { type: "message", event: string, data: string, id?: string }
 *   | { type: "id", id: string }} StreamSignal
 */

/**
 * Holds one stream open until `signal` aborts: connects, parses, reconnects after a
 * backoff, each time from the last id `lastId()` gives.
 * @param {string | URL | UrlFunction} source
 * @param {() => string | undefined} lastId
 * @param {(signal: StreamSignal) => void} emit
 * @param {{ baseMs: number, capMs: number, random: () => number }} backoff
 * @param {AbortSignal} signal
 */
async function holdStream(source, lastId, emit, backoff, signal) {
  let failures = 0;
  /** @type {number | undefined} */
  let serverRetryMs;
  while (!signal.aborted) {
    let delivered = false;
    try {
      const url = await streamUrl(source, lastId());
      const response = await fetch(url, { headers: { Accept: "text/event-stream" }, cache: "no-store", signal });
      const type = response.headers.get("content-type") ?? "";
      if (!response.ok || !response.body || !type.startsWith("text/event-stream")) {
        response.body?.cancel().catch(() => {});
        throw new StreamRefused(response.status);
      }
      // Open once the server's opening comment (`: ok`) or a message arrives: a full server
      // answers 200 with only a `retry:` and a comment, and that is no open stream.
      let opened = false;
      const open = () => {
        if (!opened) (opened = true), emit({ type: "open" });
      };
      const parser = createSseParser(
        (message) => {
          open();
          delivered = true;
          if (message.data === undefined) {
            if (message.id !== undefined) emit({ type: "id", id: message.id });
            return;
          }
          emit({ type: "message", event: message.event ?? "message", data: message.data, id: message.id });
        },
        (ms) => (serverRetryMs = ms),
        (comment) => comment === "ok" && open(),
      );
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) parser.feed(chunk.value);
      if (signal.aborted) return;
      emit({ type: "error", message: opened ? "the stream ended" : "the server asked to come back later" });
    } catch (error) {
      if (signal.aborted) return;
      const status = error instanceof StreamRefused ? error.status : undefined;
      emit({ type: "error", status, message: error instanceof Error ? error.message : String(error) });
    }
    // A stream that carried an id or event worked; one that did not counts as a failure.
    failures = delivered ? 0 : failures + 1;
    await sleep(backoffDelay(failures, { ...backoff, serverRetryMs }, backoff.random), signal);
  }
}

/** The tab-sharing protocol's lock and BroadcastChannel are named after the source. */
const CHANNEL_PREFIX = "sse-server:";
/** A leader says it is alive this often, even when no event flows. */
const HEARTBEAT_MS = 1000;
/**
 * A visible tab that has not heard its leader for this long takes over (the leader's tab
 * is frozen, or hidden long enough for its timers to be throttled to once a minute).
 */
const TAKEOVER_MS = 5000;
/**
 * Relays of the leader before still arriving this long after a new one took over are
 * delivered (the new leader resumes from its own last id; ids already seen are dropped).
 */
const HANDOVER_GRACE_MS = 2000;
/** How many recent event ids a tab remembers to drop a relay it already has. */
const RECENT_IDS = 1000;

/**
 * What travels between tabs: a leader's announcement, heartbeat and stream signals (`to`:
 * for one tab only), each with the leader's tab id; and a joining tab's hello.
 * @typedef {(StreamSignal & { from: string, to?: string }) | { type: "leader" | "alive" | "hello", from: string, to?: undefined }} Relayed
 */

/**
 * A stream as an `EventSource`-like target: `message` and named events (MessageEvent with
 * `data` and `lastEventId`), `open`, `reset` (a named event too: the server could not
 * resume, resync), and `error` (an Event with `status` when the server answered).
 */
class Subscription extends EventTarget {
  /** @type {string | undefined} */
  #lastEventId;
  #closed = new AbortController();

  /**
   * @param {string | URL | UrlFunction} source
   * @param {import("./client.d.ts").SubscribeOptions} options
   */
  constructor(source, options) {
    super();
    this.#lastEventId = options.lastEventId;
    const backoff = { baseMs: options.backoffBaseMs ?? 1000, capMs: options.backoffCapMs ?? 30_000, random: options.random ?? Math.random };
    const key = options.shareKey ?? (typeof source === "function" ? undefined : new URL(String(source), globalThis.location?.href).href);
    const canShare = typeof BroadcastChannel === "function" && typeof navigator !== "undefined" && navigator.locks;
    /** @type {(emit: (signal: StreamSignal) => void, signal: AbortSignal) => Promise<void>} */
    const run = (emit, signal) => holdStream(source, () => this.#lastEventId, emit, backoff, signal);
    if (options.share === false || key === undefined || !canShare) run((s) => this.#receive(s), this.#closed.signal);
    else this.#share(CHANNEL_PREFIX + key, run);
  }

  /**
   * One stream for every tab that subscribes under `name`: the tab holding the lock (the
   * leader) holds the stream and relays it; the others wait for the lock. A leader that
   * falls silent is replaced: a visible tab steals the lock and resumes from its own last
   * id. Followers take signals from the leader announced last (a replaced leader's relays
   * only within a short grace), and drop an event whose id they already have: so a
   * hand-over neither loses nor repeats an event.
   * @param {string} name
   * @param {(emit: (signal: StreamSignal) => void, signal: AbortSignal) => Promise<void>} run
   */
  #share(name, run) {
    const closed = this.#closed.signal;
    const channel = new BroadcastChannel(name);
    const tab = Math.random().toString(36).slice(2);
    /** @type {AbortController | undefined} while this tab leads */
    let leadership;
    let connected = false;
    /** @type {string | undefined} */
    let leader;
    let lastHeard = Date.now();
    /** @type {Set<string>} */
    const recent = new Set();
    /** Remembers `id`; false if it was already there. */
    const isNew = (/** @type {string} */ id) => {
      if (recent.has(id)) return false;
      recent.add(id);
      if (recent.size > RECENT_IDS) recent.delete(/** @type {string} */ (recent.values().next().value));
      return true;
    };
    let leaderSince = 0;
    /**
     * What other tabs sent while this one led: nothing, unless it was replaced; then the
     * new leader's relays, which it follows once it sees it lost the lock.
     * @type {Relayed[]}
     */
    const stash = [];
    let stashOverflowed = false;
    const post = (/** @type {Relayed} */ message) => leadership && !leadership.signal.aborted && channel.postMessage(message);

    const lead = () => {
      const current = (leadership = new AbortController());
      stash.length = 0;
      closed.addEventListener("abort", () => current.abort(), { once: true });
      post({ type: "leader", from: tab });
      const heartbeat = setInterval(() => post({ type: "alive", from: tab }), HEARTBEAT_MS);
      return run((s) => {
        if (current.signal.aborted) return;
        if (s.type === "open" || s.type === "error") connected = s.type === "open";
        if ((s.type === "message" || s.type === "id") && s.id !== undefined) isNew(s.id);
        this.#receive(s);
        post({ ...s, from: tab });
      }, current.signal).finally(() => clearInterval(heartbeat));
    };
    /** Waits for the lock (or, `steal`ing, takes it now); if it is stolen from us, waits again. */
    const request = (/** @type {boolean} */ steal) => {
      const waiting = new AbortController();
      closed.addEventListener("abort", () => waiting.abort(), { once: true });
      const options = steal ? { steal: true } : { signal: waiting.signal };
      navigator.locks.request(name, options, lead).catch(() => {
        if (closed.aborted || waiting.signal.aborted) return; // closed, or replaced by a steal
        // Stolen while leading (this tab was silent: frozen, or hidden and throttled): it
        // follows the new leader, from the first relay it stashed meanwhile.
        leadership?.abort();
        leadership = undefined;
        leader = undefined;
        lastHeard = Date.now();
        const missed = stash.splice(0);
        if (stashOverflowed) this.#receive({ type: "message", event: "reset", data: "taken-over" });
        stashOverflowed = false;
        for (const message of missed) follow(message);
        request(false);
      });
      return waiting;
    };
    let waiting = request(false);

    channel.onmessage = ({ data }) => {
      const message = /** @type {Relayed} */ (data);
      if (!leadership) follow(message);
      else if (message.type === "hello") {
        if (connected) post({ type: "open", from: tab, to: message.from });
      } else if (stash.length < RECENT_IDS) stash.push(message);
      else stashOverflowed = true;
    };
    /** @param {Relayed} message */
    const follow = (message) => {
      if (message.type === "hello" || (message.to !== undefined && message.to !== tab)) return;
      if ((message.type === "leader" || leader === undefined) && message.from !== leader) {
        leader = message.from;
        leaderSince = Date.now();
      }
      const isEvent = message.type === "message" || message.type === "id";
      if (message.from === leader) lastHeard = Date.now();
      // A replaced leader's late relays: events only, and only around the hand-over.
      else if (!isEvent || Date.now() - leaderSince > HANDOVER_GRACE_MS) return;
      if (isEvent && message.id !== undefined && !isNew(message.id)) return;
      this.#receive(message);
    };
    channel.postMessage({ type: "hello", from: tab });

    const watch = setInterval(() => {
      if (leadership || globalThis.document?.visibilityState === "hidden" || Date.now() - lastHeard < TAKEOVER_MS) return;
      waiting.abort();
      waiting = request(true);
    }, HEARTBEAT_MS);
    closed.addEventListener("abort", () => (clearInterval(watch), channel.close()), { once: true });
  }

  get lastEventId() {
    return this.#lastEventId ?? "";
  }

  /** @param {Relayed | StreamSignal} s */
  #receive(s) {
    if (this.#closed.signal.aborted) return;
    if (s.type === "open") this.dispatchEvent(new Event("open"));
    else if (s.type === "error") this.dispatchEvent(Object.assign(new Event("error"), { status: s.status, message: s.message }));
    else if (s.type === "message" || s.type === "id") {
      if (s.id !== undefined) this.#lastEventId = s.id;
      if (s.type === "message") this.dispatchEvent(new MessageEvent(s.event, { data: s.data, lastEventId: this.lastEventId }));
    }
  }

  close() {
    this.#closed.abort();
  }
}

/**
 * Subscribes to a stream. `source`: the SSE URL, an app route that redirects to it, or a
 * function returning one (called again for every connection, so each gets a fresh token).
 * @param {string | URL | UrlFunction} source
 * @param {import("./client.d.ts").SubscribeOptions} [options]
 * @returns {import("./client.d.ts").Subscription}
 */
export function subscribe(source, options = {}) {
  // The typed listener overloads of client.d.ts narrow EventTarget's `Event`.
  return /** @type {import("./client.d.ts").Subscription} */ (/** @type {unknown} */ (new Subscription(source, options)));
}

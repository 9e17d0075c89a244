/**
 * The history every instance shares, kept in one Redis node: one Redis Stream per topic,
 * written and published by one Lua script per submission, so that storing and publishing
 * are one atomic step and share one order.
 *
 * Positions are assigned by Redis, from its clock: `position = ms × 1024 + n`, `ms` the
 * Redis time in milliseconds and `n` a counter within it (carried into `ms` past 1023, so
 * positions stay consecutive integers whatever the rate). They never go backwards: the
 * last one is stored and a clock that steps back only slows `ms` down. The stream entry id
 * of position `ms × 1024 + n` is `ms-n`. Time-based positions make the age bound exact
 * (`XTRIM MINID`), and let an expired stream key mean exactly "no event for the TTL".
 *
 * Keys, under the channel prefix (`sse:`):
 *   `sse:clock`     hash {epoch, ms, n}: the numbering's name and its last position. No
 *                   expiry; a Redis restarted without persistence loses it, and the next
 *                   script names a new epoch, so older ids are recognised as unknown.
 *   `sse:h:<topic>` the topic's events (fields e = event, d = data), at most
 *                   SSE_HISTORY_SIZE entries, none older than SSE_HISTORY_TTL; expires
 *                   SSE_HISTORY_TTL after its last event.
 *   `sse:t:<topic>` the newest entry id the count bound pushed out (Redis does not record
 *                   trimmed ids itself); expires with the entries it guards.
 */
import { createHash } from "node:crypto";
import { formatId, parseId, type NumberedEvent } from "../../position.ts";
import type { SharedStart } from "../transport.ts";
import type { TopicBatch } from "./wire.ts";

/** Positions per millisecond: `position = ms × POSITIONS_PER_MS + n`. */
export const POSITIONS_PER_MS = 1024;

export interface LuaScript {
  readonly source: string;
  readonly sha1: string;
}

/** Runs a script on the node: EVALSHA, falling back to EVAL when the node lacks it. */
export type RunScript = (script: LuaScript, keys: readonly string[], args: readonly (string | Uint8Array)[]) => Promise<unknown>;

const script = (source: string): LuaScript => ({ source, sha1: createHash("sha1").update(source).digest("hex") });

/**
 * Shared by both scripts: reads (or names) the epoch and the last position, and the time.
 * `#!lua` (Redis 7 flags, none set): refused as a whole when Redis is out of memory,
 * rather than failing half-way.
 */
const CLOCK = `#!lua
local clock = KEYS[1]
local state = redis.call('HMGET', clock, 'epoch', 'ms', 'n')
local epoch = state[1]
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', clock, 'epoch', epoch)
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ms = tonumber(state[2]) or 0
local n = tonumber(state[3]) or 0
local moved = now > ms
if moved then ms = now; n = -1 end
local ttl = tonumber(ARGV[2])
`;

/**
 * KEYS: clock, then per run its topic's stream and trim mark, then (with an id) the id's key.
 * ARGV: epoch candidate, TTL ms, per-topic count, channel prefix, the id's TTL ms ('' for
 * no id), then per run: topic, event count, then event and data of each event.
 * Returns 1, or 0 without storing or publishing anything if the id's key exists (a replay).
 * Publishes each run as msgpack [epoch, ms, n, topic, event, data, ...], (ms, n) being its
 * first event's position; the others follow consecutively.
 */
export const APPEND_SCRIPT = script(`${CLOCK}
local perTopic = tonumber(ARGV[3])
local prefix = ARGV[4]
local once = ARGV[5]
if once ~= '' and not redis.call('SET', KEYS[#KEYS], '1', 'NX', 'PX', once) then return 0 end
local function advance()
  n = n + 1
  if n == ${POSITIONS_PER_MS} then ms = ms + 1; n = 0 end
end
local a, k = 6, 2
while a <= #ARGV do
  local topic, count = ARGV[a], tonumber(ARGV[a + 1])
  local stream, mark = KEYS[k], KEYS[k + 1]
  advance()
  local message = {epoch, ms, n, topic}
  for i = 0, count - 1 do
    if i > 0 then advance() end
    local event, data = ARGV[a + 2 + 2 * i], ARGV[a + 3 + 2 * i]
    redis.call('XADD', stream, ms .. '-' .. n, 'e', event, 'd', data)
    message[#message + 1] = event
    message[#message + 1] = data
  end
  -- Expiry is counted from the position's time, which may run ahead of the clock.
  local lifetime = ttl + ms - now
  local excess = redis.call('XLEN', stream) - perTopic
  if excess > 0 then
    local gone = redis.call('XRANGE', stream, '-', '+', 'COUNT', excess)
    redis.call('XTRIM', stream, 'MAXLEN', perTopic)
    redis.call('SET', mark, gone[#gone][1], 'PX', lifetime)
  end
  redis.call('XTRIM', stream, 'MINID', ms - ttl)
  redis.call('PEXPIRE', stream, lifetime)
  redis.call('PUBLISH', prefix .. topic, cmsgpack.pack(message))
  a = a + 2 + 2 * count
  k = k + 2
end
redis.call('HSET', clock, 'ms', ms, 'n', n)
return 1
`);

/**
 * KEYS: clock, then per topic its stream and trim mark.
 * ARGV: epoch candidate, TTL ms, the client's epoch ('' for none), its ms and n.
 * Returns [outcome, epoch, ms, n, (topic number, entry id, event, data)...]: (ms, n) is the
 * cursor, a position no later event can take (stored, so a clock stepping back cannot
 * reuse it); outcome is fresh, resumed, unknown-id or evicted.
 */
export const START_SCRIPT = script(`${CLOCK}
if moved then redis.call('HSET', clock, 'ms', ms, 'n', n) end
local clientEpoch = ARGV[3]
if clientEpoch == '' then return {'fresh', epoch, ms, n} end
local cms, cn = tonumber(ARGV[4]), tonumber(ARGV[5])
if clientEpoch ~= epoch or cms > ms or (cms == ms and cn > n) then return {'unknown-id', epoch, ms, n} end
-- Older than the TTL: its topics' keys may have expired with events in them.
if cms <= ms - ttl then return {'evicted', epoch, ms, n} end
for i = 3, #KEYS, 2 do
  local mark = redis.call('GET', KEYS[i])
  if mark then
    local dash = string.find(mark, '-', 1, true)
    local mms, mn = tonumber(string.sub(mark, 1, dash - 1)), tonumber(string.sub(mark, dash + 1))
    if mms > cms or (mms == cms and mn > cn) then return {'evicted', epoch, ms, n} end
  end
end
local out = {'resumed', epoch, ms, n}
local from = '(' .. cms .. '-' .. cn
for i = 2, #KEYS, 2 do
  for _, entry in ipairs(redis.call('XRANGE', KEYS[i], from, '+')) do
    out[#out + 1] = i / 2
    out[#out + 1] = entry[1]
    out[#out + 1] = entry[2][2]
    out[#out + 1] = entry[2][4]
  end
end
return out
`);

export interface SharedHistoryLimits {
  readonly perTopic: number;
  readonly maxAgeMs: number;
}

/** What the script returned was not what it returns: another program, or a bug. */
export class HistoryReplyError extends Error {
  override name = "HistoryReplyError";
}

export class RedisHistory {
  readonly #prefix: string;
  readonly #limits: SharedHistoryLimits;
  /** Names the numbering if Redis has none yet (first start, or a restart that lost it). */
  readonly #epochCandidate: string;

  constructor(prefix: string, limits: SharedHistoryLimits, epochCandidate: string) {
    this.#prefix = prefix;
    this.#limits = limits;
    this.#epochCandidate = epochCandidate;
  }

  /**
   * Stores and publishes a submission's runs, in one script; with `once` (the id's key and
   * TTL) only if that key is not taken. True if stored and published.
   */
  async append(run: RunScript, runs: readonly TopicBatch[], once?: { key: string; ttlMs: number }): Promise<boolean> {
    const keys = [this.#clockKey];
    const args = [
      this.#epochCandidate,
      String(this.#limits.maxAgeMs),
      String(this.#limits.perTopic),
      this.#prefix,
      once ? String(once.ttlMs) : "",
    ];
    for (const { topic, events } of runs) {
      keys.push(this.#streamKey(topic), this.#markKey(topic));
      args.push(topic, String(events.length));
      for (const { event, data } of events) args.push(event, data);
    }
    if (once) keys.push(once.key);
    return (await run(APPEND_SCRIPT, keys, args)) === 1;
  }

  /**
   * Reads the cursor and, for a resume, what the client missed; see SharedHistory.start.
   * With `prefixes` (a stream granted prefixes), a resume is `no-prefix-replay`: the topics
   * under a prefix are not known here without scanning every key, so only the cursor is read.
   */
  async start(run: RunScript, topics: readonly string[], lastEventId: string | undefined, prefixes = false): Promise<SharedStart> {
    const keys = [this.#clockKey];
    for (const topic of topics) keys.push(this.#streamKey(topic), this.#markKey(topic));
    const client = lastEventId === undefined ? undefined : parseId(lastEventId);
    const args = [this.#epochCandidate, String(this.#limits.maxAgeMs)];
    if (client && !prefixes) {
      args.push(
        client.epoch,
        String(Math.floor(client.position / POSITIONS_PER_MS)),
        String(client.position % POSITIONS_PER_MS),
      );
    } else {
      args.push("", "0", "0");
    }
    const reply = await run(START_SCRIPT, keys, args);
    const { outcome, epoch, after, entries } = readStartReply(reply);
    const afterId = formatId(epoch, after);
    if (lastEventId === undefined) return { after, afterId, missed: undefined };
    if (!client) return { after, afterId, missed: { ok: false, reason: "unknown-id" } };
    if (prefixes) return { after, afterId, missed: { ok: false, reason: "no-prefix-replay" } };
    if (outcome === "fresh") throw new HistoryReplyError("a resume was answered as a fresh start");
    if (outcome !== "resumed") return { after, afterId, missed: { ok: false, reason: outcome } };
    const events = entries.map(({ topicNumber, entryId, event, data }): NumberedEvent => {
      const topic = topics[topicNumber - 1];
      if (topic === undefined) throw new HistoryReplyError(`no topic number ${topicNumber}`);
      const position = positionOfEntry(entryId);
      return { topic, event, data, position, id: formatId(epoch, position) };
    });
    // Each topic's entries are in order; several topics interleave by position.
    if (topics.length > 1) events.sort((a, b) => a.position - b.position);
    return { after, afterId, missed: { ok: true, events } };
  }

  get #clockKey(): string {
    return `${this.#prefix}clock`;
  }

  #streamKey(topic: string): string {
    return `${this.#prefix}h:${topic}`;
  }

  #markKey(topic: string): string {
    return `${this.#prefix}t:${topic}`;
  }
}

/** `ms-n` → ms × 1024 + n. */
export function positionOfEntry(entryId: string): number {
  const match = /^(\d+)-(\d+)$/.exec(entryId);
  if (!match) throw new HistoryReplyError(`not a stream entry id: ${entryId}`);
  return Number(match[1]) * POSITIONS_PER_MS + Number(match[2]);
}

interface StartReply {
  readonly outcome: "fresh" | "resumed" | "unknown-id" | "evicted";
  readonly epoch: string;
  readonly after: number;
  readonly entries: readonly { topicNumber: number; entryId: string; event: string; data: string }[];
}

const OUTCOMES = new Set(["fresh", "resumed", "unknown-id", "evicted"]);

function readStartReply(reply: unknown): StartReply {
  if (!Array.isArray(reply) || reply.length < 4 || (reply.length - 4) % 4 !== 0) {
    throw new HistoryReplyError("the start script answered something else");
  }
  const [outcome, epoch, ms, n] = reply as unknown[];
  if (typeof outcome !== "string" || !OUTCOMES.has(outcome) || typeof epoch !== "string") {
    throw new HistoryReplyError("the start script answered something else");
  }
  if (typeof ms !== "number" || typeof n !== "number") throw new HistoryReplyError("the cursor is not numbers");
  const entries: StartReply["entries"][number][] = [];
  for (let i = 4; i < reply.length; i += 4) {
    const [topicNumber, entryId, event, data] = reply.slice(i, i + 4) as unknown[];
    if (typeof topicNumber !== "number" || typeof entryId !== "string" || typeof event !== "string" || typeof data !== "string") {
      throw new HistoryReplyError("an entry is not [topic number, id, event, data]");
    }
    entries.push({ topicNumber, entryId, event, data });
  }
  return { outcome: outcome as StartReply["outcome"], epoch, after: ms * POSITIONS_PER_MS + n, entries };
}

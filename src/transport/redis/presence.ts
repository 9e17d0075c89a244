/**
 * Who is listening, over every instance: each instance keeps its streams' count per
 * topic in a Redis hash of its own, which expires unless the instance renews it, and a
 * query adds up the hashes of the instances still alive.
 *
 * Keys, under the channel prefix:
 * - `sse:presence:<instance id>` a hash: `alive` → 1, `#<topic>` → the instance's
 *   streams granted that topic, `*<prefix>` → those granted that prefix (a stream's
 *   grants are disjoint, so it is counted once), `^lengths` → the byte lengths its
 *   prefixes have, so that a query looks up only prefixes that can exist (a long topic
 *   costs one lookup per such length, not one per byte). Written within FLUSH_DELAY_MS of a change (changes in
 *   between go together), renewed every HEARTBEAT_MS, expiring DEAD_AFTER_MS after the
 *   last renewal: an instance killed outright stops counting within DEAD_AFTER_MS.
 *   Changed and renewed by one script, so it never lives without its expiry, and a
 *   hash that expired (an instance stalled that long) is written again whole, never in
 *   part. Deleted at once when the instance closes.
 * - `sse:presence` a set of instance ids, to find the hashes; an id whose hash is gone
 *   is taken out by the query that finds it so. Each instance adds itself at every renewal.
 *
 * Every command touches one key, so it runs on a Redis Cluster as on one node.
 */
import { createHash } from "node:crypto";
import type { LuaScript } from "./history.ts";
import type { LocalAudiences, PresenceCounts } from "../transport.ts";

export const HEARTBEAT_MS = 2000;
export const DEAD_AFTER_MS = 6000;
export const FLUSH_DELAY_MS = 100;

/** One command on the node owning `key`'s hash slot (Broker.command). */
export type KeyCommand = (key: string, args: readonly string[]) => Promise<unknown>;

const ALIVE = "alive";
const topicField = (topic: string) => `#${topic}`;
const prefixField = (prefix: string) => `*${prefix}`;
/** The distinct UTF-8 byte lengths of the instance's prefix grants, comma-separated. */
const LENGTHS = "^lengths";
const utf8 = new TextEncoder();

const source = `#!lua
if ARGV[2] == '1' then redis.call('DEL', KEYS[1])
elseif redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], '${ALIVE}', '1')
for i = 3, #ARGV, 2 do
  if ARGV[i + 1] == '0' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

/**
 * KEYS: the instance's hash. ARGV: its expiry in ms; '1' to replace it whole, '0' to
 * change it (only if it still exists); then field and count of each topic (count '0':
 * none left). Returns 1 if written, 0 if the hash had expired (nothing written).
 */
export const WRITE_COUNTS_SCRIPT: LuaScript = { source, sha1: createHash("sha1").update(source).digest("hex") };

const querySource = `#!lua
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local lengths = {}
for n in string.gmatch(redis.call('HGET', KEYS[1], '${LENGTHS}') or '', '%d+') do lengths[#lengths + 1] = tonumber(n) end
local counts = {}
for i = 1, #ARGV do
  local topic = ARGV[i]
  local count = tonumber(redis.call('HGET', KEYS[1], '#' .. topic) or '0')
  for _, n in ipairs(lengths) do
    if n <= #topic then count = count + tonumber(redis.call('HGET', KEYS[1], '*' .. string.sub(topic, 1, n)) or '0') end
  end
  counts[i] = count
end
return counts
`;

/**
 * KEYS: an instance's hash. ARGV: topics. Returns, per topic, the instance's streams an
 * event of it reaches (its own field plus those of its prefixes, found by the byte
 * lengths the instance has); nil if the hash is gone (the instance is dead).
 */
export const QUERY_COUNTS_SCRIPT: LuaScript = { source: querySource, sha1: createHash("sha1").update(querySource).digest("hex") };

export class RedisPresence {
  readonly #indexKey: string;
  readonly #key: string;
  readonly #id: string;
  readonly #local: LocalAudiences;
  readonly #warn: (message: string, error: unknown) => void;
  /** The current broker's command; undefined while disconnected. */
  #command: KeyCommand | undefined;
  /** Fields (topics and prefixes) whose count changed since the last write. */
  readonly #dirty = new Set<string>();
  /** The next write replaces the hash whole (after connecting, or when it expired). */
  #whole = true;
  #writing = false;
  #flush: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(prefix: string, id: string, local: LocalAudiences, warn: (message: string, error: unknown) => void) {
    this.#indexKey = `${prefix}presence`;
    this.#key = `${prefix}presence:${id}`;
    this.#id = id;
    this.#local = local;
    this.#warn = warn;
  }

  /** Connected: writes this instance's counts whole, then renews them every HEARTBEAT_MS. */
  attach(command: KeyCommand): void {
    this.detach();
    this.#command = command;
    this.#whole = true;
    this.#heartbeat = setInterval(() => void this.#write(), HEARTBEAT_MS);
    void this.#write();
  }

  /** Disconnected: nothing is written until the next attach, which writes everything. */
  detach(): void {
    clearInterval(this.#heartbeat);
    clearTimeout(this.#flush);
    this.#flush = undefined;
    this.#command = undefined;
    this.#dirty.clear();
  }

  /** These grants' local streams changed in number: written within FLUSH_DELAY_MS. */
  changed(topics: readonly string[], prefixes: readonly string[] = []): void {
    if (!this.#command) return; // the whole write on reconnection covers them
    for (const topic of topics) this.#dirty.add(topicField(topic));
    for (const prefix of prefixes) this.#dirty.add(prefixField(prefix));
    this.#flush ??= setTimeout(() => void this.#write(), FLUSH_DELAY_MS);
  }

  /** Counts over every live instance: this one's live from the hub, the others' as last written. */
  async query(command: KeyCommand, topics: readonly string[]): Promise<PresenceCounts> {
    const counts = topics.map((topic) => this.#local.audienceSize(topic));
    const ids = (await command(this.#indexKey, ["SMEMBERS", this.#indexKey])) as string[];
    let instances = 1;
    await Promise.all(
      ids
        .filter((id) => id !== this.#id)
        .map(async (id) => {
          const key = `${this.#indexKey}:${id}`;
          const reply = (await evalScript(command, QUERY_COUNTS_SCRIPT, key, topics)) as number[] | null;
          if (reply === null) return this.#forget(command, id);
          instances++;
          for (let i = 0; i < topics.length; i++) counts[i]! += Number(reply[i] ?? 0);
        }),
    );
    return { topics: Object.fromEntries(topics.map((topic, i) => [topic, counts[i]!])), instances };
  }

  /** Closing: this instance's counts stop counting at once. */
  async remove(command: KeyCommand): Promise<void> {
    this.detach();
    await command(this.#key, ["DEL", this.#key]);
    await command(this.#indexKey, ["SREM", this.#indexKey, this.#id]);
  }

  /** The distinct byte lengths of this instance's prefix grants now (a field value; never "0", which deletes). */
  #prefixLengths(): string {
    const lengths = new Set<number>();
    for (const [grant, prefix] of this.#local.grants()) if (prefix) lengths.add(utf8.encode(grant).length);
    return `,${[...lengths].join(",")}`;
  }

  /** An instance whose hash expired: gone from the set (it adds itself again if it was only stalled). */
  async #forget(command: KeyCommand, id: string): Promise<void> {
    await command(this.#indexKey, ["SREM", this.#indexKey, id]).catch((error: unknown) =>
      this.#warn("redis could not drop a dead instance from the presence set", error),
    );
  }

  /** One write at a time: the changes since the last, or everything; renews the expiry either way. */
  async #write(): Promise<void> {
    clearTimeout(this.#flush);
    this.#flush = undefined;
    const command = this.#command;
    if (!command || this.#writing) return;
    this.#writing = true;
    const whole = this.#whole;
    const dirty = whole ? [] : [...this.#dirty];
    this.#whole = false;
    this.#dirty.clear();
    let failed = false;
    try {
      const args = [String(DEAD_AFTER_MS), whole ? "1" : "0"];
      if (whole) for (const [grant, prefix, count] of this.#local.grants()) args.push(prefix ? prefixField(grant) : topicField(grant), String(count));
      else for (const field of dirty) args.push(field, String(this.#local.grantSize(field.slice(1), field.startsWith("*"))));
      args.push(LENGTHS, this.#prefixLengths());
      if ((await evalScript(command, WRITE_COUNTS_SCRIPT, this.#key, args)) !== 1) this.#whole = true;
      else await command(this.#indexKey, ["SADD", this.#indexKey, this.#id]);
    } catch (error) {
      failed = true;
      this.#whole = true; // tried again whole at the next renewal
      this.#warn("redis did not take this instance's presence counts", error);
    } finally {
      this.#writing = false;
      if (!failed && (this.#whole || this.#dirty.size > 0)) this.changed([]);
    }
  }
}

/** EVALSHA, falling back to EVAL when the node has not seen the script (or flushed it). */
async function evalScript(command: KeyCommand, script: LuaScript, key: string, args: readonly string[]): Promise<unknown> {
  try {
    return await command(key, ["EVALSHA", script.sha1, "1", key, ...args]);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return await command(key, ["EVAL", script.source, "1", key, ...args]);
  }
}

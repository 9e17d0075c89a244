/**
 * Idempotent publishing on one Redis node: the id's key is set (NX, with its TTL) and the
 * messages published in one script, so two instances handed the same submission can never
 * both deliver it, and a submission is never remembered without having been published.
 *
 * Key, under the channel prefix: `sse:id:<id>`, expiring after SSE_IDEMPOTENCY_TTL.
 */
import { createHash } from "node:crypto";
import type { BrokerMessage } from "./broker.ts";
import type { LuaScript, RunScript } from "./history.ts";

const source = `#!lua
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
for i = 2, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end
return 1
`;

/** KEYS: the id's key. ARGV: TTL ms, then channel and payload of each message. Returns 1 if published, 0 if the id was taken. */
export const PUBLISH_ONCE_SCRIPT: LuaScript = { source, sha1: createHash("sha1").update(source).digest("hex") };

export function idKey(prefix: string, id: string): string {
  return `${prefix}id:${id}`;
}

/** True if published; false if the id was taken within its TTL (nothing published). */
export async function publishOnce(
  run: RunScript,
  key: string,
  ttlMs: number,
  messages: readonly BrokerMessage[],
): Promise<boolean> {
  const args: (string | Uint8Array)[] = [String(ttlMs)];
  for (const { channel, payload } of messages) args.push(channel, payload);
  return (await run(PUBLISH_ONCE_SCRIPT, [key], args)) === 1;
}

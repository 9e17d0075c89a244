/**
 * Plain pub/sub on one Redis node (PUBLISH/SUBSCRIBE): one connection publishes, one
 * subscribes. A node delivers all channels to a subscriber in the order it executed the
 * publishes, so every instance sees every submission in one and the same order.
 *
 * Prefix grants are pattern subscriptions (PSUBSCRIBE `<escaped prefix>*`). Redis sends a
 * message once per matching subscription — its channel's, then each matching pattern's,
 * back to back — so only one copy is passed on: the channel's if subscribed, else the
 * shortest matching pattern's. Which subscriptions exist at a message is read from the
 * client's own listener tables, which it updates as each (un)subscribe reply arrives, in
 * the connection's order: exactly the set Redis matched that message against.
 */
import { Buffer } from "node:buffer";
import { createClient } from "@redis/client";
import { CONNECT_TIMEOUT_MS, type Broker, type BrokerEvents, type BrokerMessage } from "./broker.ts";
import type { LuaScript } from "./history.ts";

export async function connectSingleNode(url: string, events: BrokerEvents): Promise<Broker> {
  const publisher = createClient({
    url,
    // The transport owns reconnection (see broker.ts); commands fail fast while offline.
    socket: { reconnectStrategy: false, connectTimeout: CONNECT_TIMEOUT_MS },
    disableOfflineQueue: true,
  });
  const subscriber = publisher.duplicate();
  for (const client of [publisher, subscriber]) {
    client.on("error", (error: unknown) => events.lost(error));
    client.on("end", () => events.lost(new Error("connection closed")));
  }
  const destroy = () => {
    for (const client of [publisher, subscriber]) if (client.isOpen) client.destroy();
  };
  try {
    await Promise.all([publisher.connect(), subscriber.connect()]);
  } catch (error) {
    destroy();
    throw error;
  }
  const listener = (message: Buffer) => events.message(message);
  /** The lengths of the channel prefixes asked for and not yet let go: a superset of the patterns Redis holds. */
  const prefixLengths = new Map<number, number>();
  const patternListeners = new Map<string, (message: Buffer, channel: Buffer) => void>();
  const firstCopy = (channel: string, length: number) => {
    if (subscriber.getPubSubListeners("CHANNELS").has(channel)) return false;
    const patterns = subscriber.getPubSubListeners("PATTERNS");
    for (const shorter of prefixLengths.keys()) {
      if (shorter < length && patterns.has(patternOf(channel.slice(0, shorter)))) return false;
    }
    return true;
  };

  return {
    ordersAcrossChannels: true,
    async publish(messages: readonly BrokerMessage[]) {
      if (messages.length === 1) {
        await publisher.publish(messages[0]!.channel, asBuffer(messages[0]!.payload));
        return;
      }
      // MULTI/EXEC: the node runs the publishes back to back or not at all, so a
      // submission is never half-published, nor interleaved with another.
      const transaction = publisher.multi();
      for (const { channel, payload } of messages) transaction.publish(channel, asBuffer(payload));
      await transaction.exec();
    },
    async runScript(script: LuaScript, keys: readonly string[], args: readonly (string | Uint8Array)[]) {
      const options = { keys: [...keys], arguments: args.map((arg) => (typeof arg === "string" ? arg : asBuffer(arg))) };
      try {
        return await publisher.evalSha(script.sha1, options);
      } catch (error) {
        // The node has not seen it yet (or flushed its scripts): send it whole, once.
        if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
        return await publisher.eval(script.source, options);
      }
    },
    async claim(key: string, ttlMs: number) {
      return (await publisher.set(key, "1", { condition: "NX", expiration: { type: "PX", value: ttlMs } })) !== null;
    },
    async release(key: string) {
      await publisher.del(key);
    },
    command: (_key, args) => publisher.sendCommand(args),
    subscribe: (channel) => subscriber.subscribe(channel, listener, true),
    unsubscribe: (channel) => subscriber.unsubscribe(channel, listener, true),
    subscribePrefix(channelPrefix: string) {
      const length = channelPrefix.length;
      prefixLengths.set(length, (prefixLengths.get(length) ?? 0) + 1);
      const patternListener = (message: Buffer, channel: Buffer) => {
        if (firstCopy(channel.toString(), length)) events.message(message);
      };
      patternListeners.set(channelPrefix, patternListener);
      return subscriber.pSubscribe(patternOf(channelPrefix), patternListener, true);
    },
    async unsubscribePrefix(channelPrefix: string) {
      const patternListener = patternListeners.get(channelPrefix);
      if (!patternListener) return;
      patternListeners.delete(channelPrefix);
      await subscriber.pUnsubscribe(patternOf(channelPrefix), patternListener, true);
      // Only now is it certain that Redis holds the pattern no more.
      const count = prefixLengths.get(channelPrefix.length)! - 1;
      if (count > 0) prefixLengths.set(channelPrefix.length, count);
      else prefixLengths.delete(channelPrefix.length);
    },
    async ping() {
      await publisher.ping();
    },
    destroy,
  };
}

/** The glob pattern matching every channel that starts with `channelPrefix`: its `*?[]\\` escaped. */
export function patternOf(channelPrefix: string): string {
  return channelPrefix.replace(/[*?[\]\\]/g, "\\$&") + "*";
}

/** The client takes Buffers for binary arguments; this wraps without copying. */
export const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * Plain pub/sub on one Redis node (PUBLISH/SUBSCRIBE): one connection publishes, one
 * subscribes. A node delivers all channels to a subscriber in the order it executed the
 * publishes, so every instance sees every submission in one and the same order.
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
    async ping() {
      await publisher.ping();
    },
    destroy,
  };
}

/** The client takes Buffers for binary arguments; this wraps without copying. */
export const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * Sharded pub/sub on a Redis Cluster (SPUBLISH/SSUBSCRIBE, Redis 7): a channel lives on
 * the shard that owns its hash slot, so pub/sub traffic spreads over the masters instead
 * of being broadcast to every node as plain PUBLISH is in a cluster. The client keeps one
 * subscriber connection per shard that has subscribed channels.
 *
 * Order holds per channel (per topic), not across topics on different shards; a
 * submission spanning several shards is taken per topic, not as one whole.
 */
import type { Buffer } from "node:buffer";
import { createCluster } from "@redis/client";
import { CONNECT_TIMEOUT_MS, type Broker, type BrokerEvents, type BrokerMessage } from "./broker.ts";
import { asBuffer } from "./single.ts";

/** `seeds`: any reachable nodes of the cluster; the rest is discovered from them. */
export async function connectCluster(seeds: readonly string[], events: BrokerEvents): Promise<Broker> {
  const cluster = createCluster({
    rootNodes: seeds.map((url) => ({ url })),
    defaults: {
      // The transport owns reconnection (see broker.ts); commands fail fast while offline.
      socket: { reconnectStrategy: false, connectTimeout: CONNECT_TIMEOUT_MS, ...(seedsUseTls(seeds) ? { tls: true } : {}) },
      disableOfflineQueue: true,
      ...credentialsOf(seeds[0]!),
    },
  });
  // A node failing, or a channel whose slot moved and could not be followed, means some
  // subscribers may miss events: the whole broker is given up and connected anew.
  cluster.on("error", (error: unknown) => events.lost(error));
  cluster.on("node-error", (error: unknown) => events.lost(error));
  cluster.on("sharded-channel-moved-error", (error: unknown) => events.lost(error));
  const destroy = () => {
    if (cluster.isOpen) cluster.destroy();
  };
  try {
    await cluster.connect();
  } catch (error) {
    destroy();
    throw error;
  }
  const listener = (message: Buffer) => events.message(message);

  return {
    ordersAcrossChannels: false,
    async publish(messages: readonly BrokerMessage[]) {
      // Started in order: messages for one shard leave on its one connection in order.
      await Promise.all(messages.map(({ channel, payload }) => cluster.sPublish(channel, asBuffer(payload))));
    },
    runScript: undefined, // a script's keys must share one slot; topics do not
    async claim(key: string, ttlMs: number) {
      return (await cluster.set(key, "1", { condition: "NX", expiration: { type: "PX", value: ttlMs } })) !== null;
    },
    async release(key: string) {
      await cluster.del(key);
    },
    command: (key, args) => cluster.sendCommand(key, false, [...args]),
    subscribe: (channel) => cluster.sSubscribe(channel, listener, true),
    unsubscribe: (channel) => cluster.sUnsubscribe(channel, listener, true),
    // Sharded pub/sub has no pattern subscribe: prefix grants are refused in a cluster.
    subscribePrefix: undefined,
    unsubscribePrefix: undefined,
    async ping() {
      // Every master: a shard that is down leaves its topics undeliverable.
      await Promise.all(cluster.masters.map(async (master) => (await cluster.nodeClient(master)).ping()));
    },
    destroy,
  };
}

/** Nodes found through the seeds inherit none of their URL's settings: TLS is passed on here. */
const seedsUseTls = (seeds: readonly string[]) => seeds.some((url) => url.startsWith("rediss://"));

/** …and so are the first seed's credentials (a cluster's nodes share them). */
function credentialsOf(url: string): { username?: string; password?: string } {
  const { username, password } = new URL(url);
  return {
    ...(username ? { username: decodeURIComponent(username) } : {}),
    ...(password ? { password: decodeURIComponent(password) } : {}),
  };
}

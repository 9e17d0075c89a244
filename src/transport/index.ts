/** Picks the transport the configuration asks for. */
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { MemoryTransport } from "./memory.ts";
import type { Transport, TransportSink } from "./transport.ts";

export type { Transport, TransportSink } from "./transport.ts";
export { sharesHistory, TransportUnavailable } from "./transport.ts";
export type { PresenceCounts, SharedHistory, SharedStart } from "./transport.ts";

export async function createTransport(config: Config, sink: TransportSink, logger: Logger): Promise<Transport> {
  if (!config.redisUrl) return new MemoryTransport(sink);
  // Loaded only when clustering is on: a single instance never touches the Redis client.
  const { RedisTransport } = await import("./redis.ts");
  return RedisTransport.connect(config, sink, logger);
}

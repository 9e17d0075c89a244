/** Placeholder until the Redis transport lands (issue 6). */
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Transport, TransportSink } from "./transport.ts";

export const RedisTransport = {
  connect(_config: Config, _sink: TransportSink, _logger: Logger): Promise<Transport> {
    return Promise.reject(new Error("REDIS_URL is set, but this build has no Redis transport yet"));
  },
};

/**
 * Wires the pieces into one server and runs it through a runtime's listener. Portable:
 * each entry point (Bun, Deno, Node) supplies only `listen`.
 */
import process from "node:process";
import { createApp } from "./app.ts";
import { DashboardFeed } from "./dashboard/feed.ts";
import { ConfigError, describeConfig, loadConfig, type Config, type Env } from "./config.ts";
import { History } from "./history.ts";
import { Hub } from "./hub.ts";
import { Metrics } from "./metrics.ts";
import { createLogger, type Logger } from "./log.ts";
import { PresenceEvents } from "./presence-events.ts";
import { createBranca } from "./token/branca.ts";
import { TokenVerifier, type SpawnTokenWorker } from "./token/offload.ts";
import { checkTokenCrypto, SelfTestError } from "./token/self-test.ts";
import { createTransport, sharesHistory, type Transport } from "./transport/index.ts";

/** `env`: CLAIMING_SERVER from a server that claims event streams (src/stream.ts), else anything. */
export type FetchHandler = (request: Request, env?: unknown) => Response | Promise<Response>;

/** What a runtime's listener gives back: the bound port and ways to stop. */
export interface Listener {
  readonly port: number;
  /** Stops accepting new connections; open streams go on. */
  stopAccepting(): void;
  /** Drops whatever is still connected. */
  close(): Promise<void> | void;
}

export type Listen = (fetch: FetchHandler, config: Config, logger: Logger) => Promise<Listener> | Listener;

export interface SseServer {
  readonly config: Config;
  readonly hub: Hub;
  readonly transport: Transport;
  readonly logger: Logger;
  readonly fetch: FetchHandler;
  /** Ends every stream (spread over `drainMs`) and releases timers and the transport. */
  close(drainMs?: number): Promise<void>;
}

export interface SseServerOptions {
  /**
   * Starts a thread that verifies long tokens off the event loop (src/token/offload.ts);
   * from the entry point, as threads are runtime-specific. Without it, every token is
   * verified inline.
   */
  readonly spawnTokenWorker?: SpawnTokenWorker;
}

/** Throws SelfTestError, before anything is started, if the token crypto gives wrong answers. */
export async function createSseServer(config: Config, logger: Logger, options: SseServerOptions = {}): Promise<SseServer> {
  checkTokenCrypto();
  // With one Redis node, history lives in Redis, shared by every instance; otherwise each
  // process keeps its own.
  const history =
    config.historySize > 0 && !sharesHistory(config)
      ? new History(
          {
            perTopic: config.historySize,
            maxAgeMs: config.historyTtlSeconds * 1000,
            maxBytes: config.historyMaxBytes,
          },
          // Clustered, an instance receives only the topics it subscribed to.
          { partialCoverage: config.redisUrl !== undefined },
        )
      : undefined;
  const hub = new Hub(history);
  const transport = await createTransport(
    config,
    {
      deliver: (events) => hub.dispatch(events),
      deliverNumbered: (events) => hub.dispatchNumbered(events),
      endAllStreams: () => hub.endAll(),
      coverageGained: (topic) => history?.coverageGained(topic),
      coverageLost: (topic) => history?.coverageLost(topic),
      audienceSize: (topic) => hub.audienceSize(topic),
      grantSize: (grant, prefix) => hub.grantSize(grant, prefix),
      grants: () => hub.grants(),
    },
    logger,
  );
  hub.watchInterest(transport);
  const presenceEvents = config.presenceEvents ? new PresenceEvents(transport, logger) : undefined;
  hub.watchAudiences((topics, prefixes) => {
    transport.audiencesChanged(topics, prefixes);
    presenceEvents?.changed(topics);
  });
  const tokens = new TokenVerifier({
    branca: createBranca(config.secret),
    secret: config.secret,
    ttlSeconds: config.tokenTtlSeconds,
    spawnWorker: options.spawnTokenWorker,
    onWorkerExit: (why) => logger.error("token verification worker stopped; restarting it", { why }),
  });
  try {
    await tokens.started();
  } catch (error) {
    tokens.close();
    await transport.close();
    throw error;
  }
  const metrics = new Metrics(hub, tokens);
  const dashboard = new DashboardFeed({ hub, metrics, transport, clustered: config.redisUrl !== undefined });
  const app = createApp({ config, hub, transport, tokens, logger, metrics, dashboard });
  // One timer for all streams, not one per stream.
  const heartbeat = setInterval(() => {
    hub.heartbeat();
    history?.sweep(); // so that idle history ages out too
  }, config.heartbeatSeconds * 1000);
  return {
    config,
    hub,
    transport,
    logger,
    fetch: app.fetch,
    async close(drainMs = 0) {
      clearInterval(heartbeat);
      presenceEvents?.close();
      tokens.close();
      dashboard.close();
      await hub.drain(drainMs);
      await transport.close();
    },
  };
}

const writeLine = (line: string) => void process.stdout.write(line + "\n");

/**
 * The whole process life: configuration (exit 1 with one line on stderr if it is bad, if
 * the token crypto fails its known-answer test, or if the address cannot be listened on),
 * listening, and a prompt, clean exit 0 on SIGTERM or SIGINT.
 */
export async function run(env: Env, listen: Listen, spawnTokenWorker?: SpawnTokenWorker): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`sse-server: configuration error: ${error.message}\n`);
    process.exit(1);
  }
  const logger = createLogger(config.logLevel, writeLine);
  let server: SseServer;
  try {
    server = await createSseServer(config, logger, { spawnTokenWorker });
  } catch (error) {
    if (!(error instanceof SelfTestError)) throw error;
    process.stderr.write(`sse-server: start-up self-test failed: ${error.message}\n`);
    process.exit(1);
  }
  let listener: Listener | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal, streams: server.hub.subscriberCount, drainSeconds: config.shutdownDrainSeconds });
    listener?.stopAccepting();
    await server.close(config.shutdownDrainSeconds * 1000);
    // Let the streams' final bytes leave before the sockets are dropped.
    await new Promise((resolve) => setTimeout(resolve, 100));
    await listener?.close();
    logger.info("stopped");
    process.exit(0);
  };
  // Before listening, so that a signal arriving right after start-up is never missed.
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  try {
    listener = await listen(server.fetch, config, logger);
  } catch (error) {
    process.stderr.write(`sse-server: cannot listen on ${config.host}:${config.port}: ${whyNotListening(error)}\n`);
    process.exit(1);
  }
  logger.info("listening", { port: listener.port, config: describeConfig(config) });
}

/**
 * A listen failure in words. Bun and Node give the system's error code (`EADDRINUSE`);
 * Deno throws `Deno.errors.AddrInUse` and friends, named after it.
 */
function whyNotListening(error: unknown): string {
  const { code, name, message } = (error ?? {}) as { code?: unknown; name?: unknown; message?: unknown };
  const key = typeof code === "string" && code !== "" ? code : String(name);
  return LISTEN_ERRORS.get(key) ?? (typeof message === "string" && message !== "" ? message : String(error));
}

const LISTEN_ERRORS: ReadonlyMap<string, string> = new Map([
  ["EADDRINUSE", "address already in use"],
  ["AddrInUse", "address already in use"],
  ["EACCES", "permission denied"],
  ["PermissionDenied", "permission denied"],
  ["EADDRNOTAVAIL", "address not available"],
  ["AddrNotAvailable", "address not available"],
]);

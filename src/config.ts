/** Environment → typed, validated configuration. Nothing starts half-configured. */
import { z } from "zod";
import { hexToBytes } from "./hex.ts";
import { LOG_LEVELS, type LogLevel } from "./log.ts";

export interface Config {
  /** The 32-byte Branca key. Never logged. */
  readonly secret: Uint8Array;
  readonly port: number;
  readonly host: string;
  /** Normalised route prefix without trailing slash: "" for the root, else like "/sse-server". */
  readonly basePath: string;
  readonly tokenTtlSeconds: number;
  /** End each stream (after an `expired` event) when its token expires. */
  readonly closeOnExpiry: boolean;
  readonly heartbeatSeconds: number;
  readonly maxBodyBytes: number;
  readonly maxTopicsPerToken: number;
  readonly maxEventsPerSubmit: number;
  readonly maxEventBytes: number;
  readonly maxBufferedEvents: number;
  readonly logLevel: LogLevel;
  /** Open streams allowed at once; 0 means no limit. */
  readonly maxStreams: number;
  /** Seconds over which shutdown spreads the closing of streams. */
  readonly shutdownDrainSeconds: number;
  /** The range each stream's `retry:` (reconnection delay) is drawn from, in ms. */
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** Events kept per topic for resuming streams; 0 turns history off. */
  readonly historySize: number;
  readonly historyTtlSeconds: number;
  readonly historyMaxBytes: number;
  /** Seconds a submission's id is remembered: a retry under it within this time is not delivered again. */
  readonly idempotencyTtlSeconds: number;
  /** Turns clustering on; undefined runs one instance in memory. */
  readonly redisUrl: string | undefined;
  /** REDIS_URL names Redis Cluster seed nodes: pub/sub is sharded (SPUBLISH/SSUBSCRIBE). */
  readonly redisCluster: boolean;
  /** Prepended to each topic to name its Redis channel, so deployments can share a Redis. */
  readonly redisChannelPrefix: string;
  /** Publish changes of topics' stream counts to PRESENCE_TOPIC (src/presence-events.ts). */
  readonly presenceEvents: boolean;
  /** Deno only: which HTTP server it serves with (see DENO_SERVERS). */
  readonly denoServer: DenoServer;
}

/**
 * Deno's two HTTP servers: `serve` (Deno.serve, on hyper: what Deno users and Deno Deploy
 * run) and `node` (Deno's node:http, on llhttp, whose parser refuses the lenient framings
 * that hyper accepts; README "HTTP on each runtime").
 */
export const DENO_SERVERS = ["serve", "node"] as const;
export type DenoServer = (typeof DENO_SERVERS)[number];

/** A configuration problem, named by its variable; the message is safe to print. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** true/false, 1/0 or yes/no; false when unset. */
const flag = () =>
  z
    .enum(["true", "false", "1", "0", "yes", "no"], { error: "must be true or false" })
    .transform((v) => v === "true" || v === "1" || v === "yes")
    .default(false);

const int = (min: number, max: number, fallback: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
    .default(fallback);

const schema = z.object({
  SSE_SECRET: z
    .string({ error: "is required (32 bytes as 64 hex characters)" })
    .trim()
    .regex(/^[0-9a-fA-F]{64}$/, "must be exactly 64 hex characters (32 bytes)"),
  PORT: int(0, 65535, 8000),
  HOST: z.string().trim().min(1, "must not be empty").default("0.0.0.0"),
  BASE_PATH: z
    .string()
    .trim()
    .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/, "must be a URL path starting with /")
    .default("/"),
  SSE_TOKEN_TTL: int(1, 10 * 365 * 86400, 86400),
  SSE_CLOSE_ON_EXPIRY: flag(),
  SSE_HEARTBEAT: int(1, 3600, 15),
  // A failing token of this size costs ~5 ms of CPU to reject on Bun (base62 decoding grows
  // faster than the length; BENCHMARKS.md, "Unauthenticated input").
  SSE_MAX_BODY_BYTES: int(64, 64 * 1024 * 1024, 64 * 1024),
  SSE_MAX_TOPICS: int(1, 100_000, 100),
  SSE_MAX_EVENTS: int(1, 1_000_000, 1000),
  // The largest round size whose event, sealed (msgpack + Branca + base62: ×1.34 and
  // ~80 bytes), still fits a body of the default SSE_MAX_BODY_BYTES.
  SSE_MAX_EVENT_BYTES: int(1, 64 * 1024 * 1024, 47 * 1024),
  SSE_MAX_BUFFERED_EVENTS: int(1, 1_000_000, 1024),
  SSE_MAX_STREAMS: int(0, 10_000_000, 0),
  SSE_SHUTDOWN_DRAIN: int(0, 600, 0),
  SSE_RETRY_MIN_MS: int(0, 3_600_000, 1000),
  SSE_RETRY_MAX_MS: int(0, 3_600_000, 8000),
  SSE_HISTORY_SIZE: int(0, 1_000_000, 100),
  SSE_HISTORY_TTL: int(1, 7 * 86400, 300),
  SSE_HISTORY_MAX_BYTES: int(1024, 64 * 1024 * 1024 * 1024, 64 * 1024 * 1024),
  SSE_IDEMPOTENCY_TTL: int(1, 7 * 86400, 300),
  SSE_PRESENCE_EVENTS: flag(),
  LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  // `http1` (an own HTTP/1.1 server) was removed: naming it fails, so no one believes they
  // run a server that is gone.
  SSE_DENO_SERVER: z
    .enum(DENO_SERVERS, {
      error:
        "must be serve (Deno.serve, the default) or node (Deno's node:http, llhttp's strict parser); the own http1 server was removed",
    })
    .default("serve"),
  REDIS_URL: z
    .string()
    .trim()
    .regex(/^rediss?:\/\/\S+$/, "must be a redis:// or rediss:// URL")
    .optional(),
  REDIS_CLUSTER: flag(),
  REDIS_CHANNEL_PREFIX: z.string().default("sse:"),
});

export type Env = Record<string, string | undefined>;

/** Parses the environment; throws ConfigError naming the first bad variable and why. */
export function loadConfig(env: Env): Config {
  const result = schema.safeParse(pickKnown(env));
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(`${String(issue.path[0])} ${issue.message}`);
  }
  const v = result.data;
  if (v.SSE_RETRY_MIN_MS > v.SSE_RETRY_MAX_MS) {
    throw new ConfigError(`SSE_RETRY_MIN_MS must not be more than SSE_RETRY_MAX_MS (${v.SSE_RETRY_MAX_MS})`);
  }
  return {
    secret: hexToBytes(v.SSE_SECRET),
    port: v.PORT,
    host: v.HOST,
    basePath: normaliseBasePath(v.BASE_PATH),
    tokenTtlSeconds: v.SSE_TOKEN_TTL,
    closeOnExpiry: v.SSE_CLOSE_ON_EXPIRY,
    heartbeatSeconds: v.SSE_HEARTBEAT,
    maxBodyBytes: v.SSE_MAX_BODY_BYTES,
    maxTopicsPerToken: v.SSE_MAX_TOPICS,
    maxEventsPerSubmit: v.SSE_MAX_EVENTS,
    maxEventBytes: v.SSE_MAX_EVENT_BYTES,
    maxBufferedEvents: v.SSE_MAX_BUFFERED_EVENTS,
    maxStreams: v.SSE_MAX_STREAMS,
    shutdownDrainSeconds: v.SSE_SHUTDOWN_DRAIN,
    retryMinMs: v.SSE_RETRY_MIN_MS,
    retryMaxMs: v.SSE_RETRY_MAX_MS,
    historySize: v.SSE_HISTORY_SIZE,
    historyTtlSeconds: v.SSE_HISTORY_TTL,
    historyMaxBytes: v.SSE_HISTORY_MAX_BYTES,
    idempotencyTtlSeconds: v.SSE_IDEMPOTENCY_TTL,
    presenceEvents: v.SSE_PRESENCE_EVENTS,
    logLevel: v.LOG_LEVEL,
    redisUrl: v.REDIS_URL,
    redisCluster: v.REDIS_CLUSTER,
    redisChannelPrefix: v.REDIS_CHANNEL_PREFIX,
    denoServer: v.SSE_DENO_SERVER,
  };
}

/** Empty variables count as unset, as a shell's `FOO=` usually means "no value". */
function pickKnown(env: Env): Env {
  const picked: Env = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== "") picked[key] = value;
  }
  return picked;
}

/** "/", "/sse-server" and "/sse-server/" → "", "/sse-server", "/sse-server". */
export function normaliseBasePath(path: string): string {
  return path.replace(/\/+$/, "");
}

/** What start-up logs: every setting but the secret (and a Redis URL's password). */
export function describeConfig(config: Config): Record<string, unknown> {
  const { secret: _secret, redisUrl, ...rest } = config;
  return { ...rest, redisUrl: redisUrl?.replace(/\/\/([^@/]*)@/g, "//[redacted]@") };
}

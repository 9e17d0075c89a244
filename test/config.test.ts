import { describe, expect, test } from "bun:test";
import { ConfigError, describeConfig, loadConfig } from "../src/config.ts";
import { encode } from "@msgpack/msgpack";
import { MAX_ID_BYTES } from "../src/protocol.ts";
import { createBranca } from "../src/token/branca.ts";

const SECRET = "ab".repeat(32);

describe("loadConfig", () => {
  test("defaults", () => {
    const config = loadConfig({ SSE_SECRET: SECRET });
    expect(config.secret).toEqual(new Uint8Array(32).fill(0xab));
    expect(config).toMatchObject({
      port: 8000,
      host: "0.0.0.0",
      basePath: "",
      tokenTtlSeconds: 86400,
      heartbeatSeconds: 15,
      logLevel: "info",
    });
  });

  test("SSE_DENO_SERVER: `serve` (the default) or `node`; the removed `http1` fails start-up", () => {
    expect(loadConfig({ SSE_SECRET: SECRET }).denoServer).toBe("serve");
    expect(loadConfig({ SSE_SECRET: SECRET, SSE_DENO_SERVER: "node" }).denoServer).toBe("node");
    expect(() => loadConfig({ SSE_SECRET: SECRET, SSE_DENO_SERVER: "http1" })).toThrow(
      "SSE_DENO_SERVER must be serve (Deno.serve, the default) or node (Deno's node:http, llhttp's strict parser); the own http1 server was removed",
    );
  });

  test("limits: a failing token at the default body limit stays cheap (64 KiB)", () => {
    const config = loadConfig({ SSE_SECRET: SECRET });
    expect(config.maxBodyBytes).toBe(64 * 1024);
    expect(config.maxEventBytes).toBe(47 * 1024);
  });

  test("an event of the default largest size fits a body of the default largest size, with an id or without", () => {
    const { maxBodyBytes, maxEventBytes } = loadConfig({ SSE_SECRET: SECRET });
    // Sealed with our codec: the reference one (base-x) takes minutes at this size.
    const seal = (value: unknown) => createBranca(new Uint8Array(32)).encode(encode(value));
    // The split between topic, name and data changes the msgpack headers: try the extremes.
    const splits: [number, number][] = [[1, 0], [255, 255], [256, 256], [1000, 1000]];
    for (const [topic, event] of splits) {
      const e = { topic: "t".repeat(topic), event: "e".repeat(event), data: "d".repeat(maxEventBytes - topic - event) };
      const id = "i".repeat(MAX_ID_BYTES); // the longest idempotency id fits too
      const tokens = [seal({ events: [e] }), seal([[[e.topic, e.event, e.data]]]), seal({ events: [e], id }), seal([[[e.topic, e.event, e.data]], id])];
      for (const token of tokens) {
        expect({ topic, event, fits: token.length <= maxBodyBytes }).toEqual({ topic, event, fits: true });
      }
    }
  });

  test("SSE_PRESENCE_EVENTS: off by default; true/1/yes turn it on", () => {
    expect(loadConfig({ SSE_SECRET: SECRET }).presenceEvents).toBe(false);
    for (const on of ["true", "1", "yes"]) expect(loadConfig({ SSE_SECRET: SECRET, SSE_PRESENCE_EVENTS: on }).presenceEvents).toBe(true);
    expect(() => loadConfig({ SSE_SECRET: SECRET, SSE_PRESENCE_EVENTS: "maybe" })).toThrow("SSE_PRESENCE_EVENTS must be true or false");
  });

  test("SSE_CLOSE_ON_EXPIRY: off by default; true/1/yes turn it on", () => {
    expect(loadConfig({ SSE_SECRET: SECRET }).closeOnExpiry).toBe(false);
    for (const on of ["true", "1", "yes"]) expect(loadConfig({ SSE_SECRET: SECRET, SSE_CLOSE_ON_EXPIRY: on }).closeOnExpiry).toBe(true);
    expect(() => loadConfig({ SSE_SECRET: SECRET, SSE_CLOSE_ON_EXPIRY: "maybe" })).toThrow("SSE_CLOSE_ON_EXPIRY must be true or false");
  });

  test("SSE_RETRY_MIN_MS..SSE_RETRY_MAX_MS: 1-8 s by default; a range upside down fails start-up", () => {
    expect(loadConfig({ SSE_SECRET: SECRET })).toMatchObject({ retryMinMs: 1000, retryMaxMs: 8000 });
    expect(loadConfig({ SSE_SECRET: SECRET, SSE_RETRY_MIN_MS: "0", SSE_RETRY_MAX_MS: "0" })).toMatchObject({ retryMinMs: 0, retryMaxMs: 0 });
    expect(() => loadConfig({ SSE_SECRET: SECRET, SSE_RETRY_MIN_MS: "9000" })).toThrow(
      "SSE_RETRY_MIN_MS must not be more than SSE_RETRY_MAX_MS (8000)",
    );
  });

  test("base path: trailing slash optional, root is empty", () => {
    expect(loadConfig({ SSE_SECRET: SECRET, BASE_PATH: "/sse-server/" }).basePath).toBe("/sse-server");
    expect(loadConfig({ SSE_SECRET: SECRET, BASE_PATH: "/sse-server" }).basePath).toBe("/sse-server");
    expect(loadConfig({ SSE_SECRET: SECRET, BASE_PATH: "/" }).basePath).toBe("");
    expect(loadConfig({ SSE_SECRET: SECRET, BASE_PATH: "/a/b/" }).basePath).toBe("/a/b");
  });

  test("numbers are parsed and bounded", () => {
    const config = loadConfig({ SSE_SECRET: SECRET, PORT: "0", SSE_TOKEN_TTL: "60", SSE_HEARTBEAT: "5" });
    expect([config.port, config.tokenTtlSeconds, config.heartbeatSeconds]).toEqual([0, 60, 5]);
  });

  test("SSE_IDEMPOTENCY_TTL: seconds a submission id is remembered, 300 by default, 1 s to 7 days", () => {
    expect(loadConfig({ SSE_SECRET: SECRET }).idempotencyTtlSeconds).toBe(300);
    expect(loadConfig({ SSE_SECRET: SECRET, SSE_IDEMPOTENCY_TTL: "1" }).idempotencyTtlSeconds).toBe(1);
    expect(loadConfig({ SSE_SECRET: SECRET, SSE_IDEMPOTENCY_TTL: "604800" }).idempotencyTtlSeconds).toBe(604800);
  });

  test("empty values count as unset", () => {
    expect(loadConfig({ SSE_SECRET: SECRET, PORT: "" }).port).toBe(8000);
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{}, /^SSE_SECRET is required/],
    [{ SSE_SECRET: "abc" }, /^SSE_SECRET must be exactly 64 hex/],
    [{ SSE_SECRET: "zz".repeat(32) }, /^SSE_SECRET must be exactly 64 hex/],
    [{ SSE_SECRET: SECRET, PORT: "http" }, /^PORT must be a whole number/],
    [{ SSE_SECRET: SECRET, PORT: "65536" }, /^PORT must be at most 65535/],
    [{ SSE_SECRET: SECRET, SSE_TOKEN_TTL: "-5" }, /^SSE_TOKEN_TTL must be a whole number/],
    [{ SSE_SECRET: SECRET, SSE_HEARTBEAT: "0" }, /^SSE_HEARTBEAT must be at least 1/],
    [{ SSE_SECRET: SECRET, BASE_PATH: "sse" }, /^BASE_PATH must be a URL path/],
    [{ SSE_SECRET: SECRET, LOG_LEVEL: "loud" }, /^LOG_LEVEL /],
    [{ SSE_SECRET: SECRET, SSE_DENO_SERVER: "hyper" }, /^SSE_DENO_SERVER must be serve .* the own http1 server was removed/],
    [{ SSE_SECRET: SECRET, SSE_MAX_BUFFERED_EVENTS: "0" }, /^SSE_MAX_BUFFERED_EVENTS must be at least 1/],
    [{ SSE_SECRET: SECRET, SSE_IDEMPOTENCY_TTL: "0" }, /^SSE_IDEMPOTENCY_TTL must be at least 1/],
    [{ SSE_SECRET: SECRET, SSE_IDEMPOTENCY_TTL: "604801" }, /^SSE_IDEMPOTENCY_TTL must be at most 604800/],
    [{ SSE_SECRET: SECRET, SSE_IDEMPOTENCY_TTL: "5m" }, /^SSE_IDEMPOTENCY_TTL must be a whole number/],
  ];
  for (const [env, message] of bad) {
    test(`rejects ${JSON.stringify(env).replace(SECRET, "<secret>")}`, () => {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(message);
    });
  }

  test("a bad secret is never echoed", () => {
    const secret = "g".repeat(64);
    try {
      loadConfig({ SSE_SECRET: secret });
      throw new Error("expected a ConfigError");
    } catch (error) {
      expect(String(error)).not.toContain(secret);
    }
  });

  test("describeConfig leaves the secret out", () => {
    const described = JSON.stringify(describeConfig(loadConfig({ SSE_SECRET: SECRET })));
    expect(described).not.toContain("secret");
    expect(described).toContain("maxBufferedEvents");
  });
});

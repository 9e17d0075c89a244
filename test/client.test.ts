/** The publisher library, against a live server, imported under Bun, Deno and Node. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SseClient, SseClientError } from "../src/client.ts";
import { NODE, ROOT, runProcess, startServer, type RunningServer } from "./helpers/server.ts";
import { openStream } from "./helpers/sse.ts";
import { SECRET_HEX, subscribeToken } from "./helpers/tokens.ts";

const BIN = `${ROOT}node_modules/.bin`;
const RUNNERS: Record<string, string[]> = {
  bun: [`${BIN}/bun`],
  deno: [`${BIN}/deno`, "run", "--allow-net", "--allow-env", "--allow-read"],
  node: [NODE, "--import", "tsx"],
};

describe("SseClient", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer("bun", { basePath: "/sse-server/" });
  });
  afterAll(() => server.stop());

  test("subscribeUrl opens a stream; publish delivers one event or a batch", async () => {
    const client = new SseClient({ url: server.url, secret: SECRET_HEX });
    const url = client.subscribeUrl(["c1", "c2"]);
    expect(url.startsWith(`${server.url}/events?token=`)).toBe(true);
    const stream = await openStream(url);
    await client.publish({ topic: "c1", data: "one" });
    await client.publish([
      { topic: "c2", event: "named", data: "two" },
      { topic: "c1", event: "", data: "" },
    ]);
    expect((await stream.next(3)).map(({ event, data }) => ({ event, data }))).toEqual([
      { event: "message", data: "one" },
      { event: "named", data: "two" },
      { event: "message", data: "" },
    ]);
    stream.close();
  });

  test("lastEventId goes into the URL for clients that reconnect through a fresh one", () => {
    const client = new SseClient({ url: server.url, secret: SECRET_HEX });
    expect(client.subscribeUrl(["t"], { lastEventId: "abc-1" })).toMatch(/&lastEventId=abc-1$/);
  });

  test("a refused submission throws with the status and the server's reason", async () => {
    const client = new SseClient({ url: server.url, secret: SECRET_HEX });
    const error = await client.publish({ topic: "bad\ntopic" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SseClientError);
    expect((error as SseClientError).status).toBe(400);
    expect((error as Error).message).toMatch(/CR or LF/);
  });

  test("503 is retried with backoff, then reported", async () => {
    let calls = 0;
    const flaky: typeof fetch = Object.assign(
      async (input: RequestInfo | URL, init?: RequestInit) => {
        calls++;
        return calls < 3 ? new Response("redis away", { status: 503 }) : fetch(input, init);
      },
      { preconnect: () => {} },
    );
    const client = new SseClient({ url: server.url, secret: SECRET_HEX, retryDelayMs: 5, fetch: flaky });
    await client.publish({ topic: "retry", data: "eventually" });
    expect(calls).toBe(3);

    const down: typeof fetch = Object.assign(async () => new Response("down", { status: 503 }), {
      preconnect: () => {},
    });
    const giveUp = new SseClient({ url: server.url, secret: SECRET_HEX, retryDelayMs: 1, attempts: 3, fetch: down });
    const error = await giveUp.publish({ topic: "x" }).catch((e: unknown) => e);
    expect((error as SseClientError).status).toBe(503);
  });

  /** A fetch that hands the first request to the server but answers it 503, as if the answer was lost. */
  const tookItButAnswered503 = () => {
    let calls = 0;
    const wrapped: typeof fetch = Object.assign(
      async (input: RequestInfo | URL, init?: RequestInit) => {
        calls++;
        const response = await fetch(input, init);
        if (calls > 1) return response;
        await response.text();
        return new Response("answer lost", { status: 503 });
      },
      { preconnect: () => {} },
    );
    return { fetch: wrapped, calls: () => calls };
  };

  test("a retry of a submission the server did take is not delivered twice (one id per publish)", async () => {
    const stream = await openStream(`${server.url}/events?token=${subscribeToken(["once"])}`);
    const flaky = tookItButAnswered503();
    const client = new SseClient({ url: server.url, secret: SECRET_HEX, retryDelayMs: 5, fetch: flaky.fetch });
    await client.publish({ topic: "once", data: "taken, answer lost" });
    expect(flaky.calls()).toBe(2);
    // Identical events in another publish call are another submission: delivered.
    await client.publish({ topic: "once", data: "taken, answer lost" });
    await new SseClient({ url: server.url, secret: SECRET_HEX }).publish({ topic: "once", data: "marker" });
    expect((await stream.next(3)).map((e) => e.data)).toEqual(["taken, answer lost", "taken, answer lost", "marker"]);
    stream.close();
  });

  test("a caller's own id makes its own retries safe too", async () => {
    const stream = await openStream(`${server.url}/events?token=${subscribeToken(["own-id"])}`);
    const client = new SseClient({ url: server.url, secret: SECRET_HEX });
    await client.publish({ topic: "own-id", data: "first" }, { id: "order-42-shipped" });
    await client.publish({ topic: "own-id", data: "again" }, { id: "order-42-shipped" });
    await client.publish({ topic: "own-id", data: "marker" });
    expect((await stream.next(2)).map((e) => e.data)).toEqual(["first", "marker"]);
    stream.close();
    const error = await client.publish({ topic: "own-id" }, { id: "" }).catch((e: unknown) => e);
    expect((error as SseClientError).status).toBe(400);
    expect((error as Error).message).toMatch(/id: must be 1 to 200 bytes/);
  });

  test("a bad secret is refused at construction", () => {
    expect(() => new SseClient({ url: server.url, secret: "nope" })).toThrow(/64 hex/);
  });

  for (const [runtime, runner] of Object.entries(RUNNERS)) {
    test(`imported and used under ${runtime}`, async () => {
      const stream = await openStream(`${server.url}/events?token=${subscribeToken([`rt-${runtime}`])}`);
      const result = await runProcess(
        runner[0]!,
        [...runner.slice(1), "test/fixtures/publish.ts", server.url, `rt-${runtime}`, `hello from ${runtime}`],
        { SSE_SECRET: SECRET_HEX },
      );
      expect(result).toMatchObject({ code: 0 });
      expect(result.stdout).toContain(`${server.url}/events?token=`);
      expect((await stream.next(1))[0]).toMatchObject({ event: "from-client", data: `hello from ${runtime}` });
      stream.close();
    });
  }

  test("the package exports it as sse-server/client", async () => {
    const mod = (await import("sse-server/client")) as { SseClient: unknown };
    expect(mod.SseClient).toBe(SseClient);
  });
});

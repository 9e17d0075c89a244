/** The publisher library, against a live server, imported under Bun, Deno and Node, and as the npm package. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

  test("subscribeUrl with prefixes: the stream gets every topic under them and the listed topics", async () => {
    const client = new SseClient({ url: server.url, secret: SECRET_HEX });
    const stream = await openStream(client.subscribeUrl(["news"], { prefixes: ["user-42/"] }));
    await client.publish([
      { topic: "user-42/inbox", data: "1" },
      { topic: "user-43/inbox", data: "not mine" },
      { topic: "news", data: "2" },
    ]);
    expect((await stream.next(2)).map((e) => e.data)).toEqual(["1", "2"]);
    stream.close();
  });

  test("presence counts open streams per topic; a refused query throws with the status and reason", async () => {
    const client = new SseClient({ url: server.url, secret: SECRET_HEX });
    expect(await client.presence(["watched", "unwatched"])).toEqual({ topics: { watched: 0, unwatched: 0 }, instances: 1 });
    const stream = await openStream(client.subscribeUrl(["watched"]));
    expect(await client.presence(["watched", "unwatched"])).toEqual({ topics: { watched: 1, unwatched: 0 }, instances: 1 });
    stream.close();
    const error = await client.presence([]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SseClientError);
    expect((error as SseClientError).status).toBe(400);
    expect((error as Error).message).toBe("presence answered 400: invalid payload: presence: must name at least one topic");
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
});

/**
 * What `npm pack` makes, installed into a fresh Node project the way a user would: plain
 * `node` imports `sse-server/client` as compiled JavaScript, its `.d.ts` types check a
 * consumer, and the `sse-server` bin runs. (npm resolves the dependencies: from its cache
 * when it has them, else from the registry, as `npm ci` did.)
 */
describe("the npm package", () => {
  let server: RunningServer;
  let project: string;
  let packed: { filename: string; files: { path: string }[] };
  beforeAll(async () => {
    server = await startServer("bun");
    project = mkdtempSync(join(tmpdir(), "sse-server-package-"));
    const pack = await runProcess("npm", ["pack", "--json", "--pack-destination", project], {}, 60_000);
    expect(pack).toMatchObject({ code: 0 });
    // Only the JSON: npm prints what prepack's build says before it.
    [packed] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf("["))) as [typeof packed];
    const tarball = join(project, packed.filename);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    const install = await runProcess(
      "npm",
      ["install", "--prefix", project, "--prefer-offline", "--no-audit", "--no-fund", tarball],
      {},
      110_000,
    );
    expect(install).toMatchObject({ code: 0 });
  }, 180_000);
  afterAll(async () => {
    await server.stop();
    rmSync(project, { recursive: true, force: true });
  });

  test("holds the bin, the sources it runs and the compiled library; no tests, benchmarks or examples", () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths).toContain("dist/lib/client.js");
    expect(paths).toContain("dist/lib/client.d.ts");
    expect(paths).toContain("bin/sse-server.mjs");
    expect(paths).toContain("src/cli.ts");
    expect(paths.filter((p) => !/^(bin|src|dist\/lib)\/|^(package\.json|README\.md|LICENSE)$/.test(p))).toEqual([]);
  });

  test("plain node imports sse-server/client as JavaScript and publishes with it", async () => {
    writeFileSync(
      join(project, "publish.mjs"),
      `import { SseClient } from "sse-server/client";
const sse = new SseClient({ url: process.env.SSE_URL, secret: process.env.SSE_SECRET });
await sse.publish({ topic: "packaged", event: "from-package", data: "compiled" });
console.log(import.meta.resolve("sse-server/client"));
`,
    );
    const stream = await openStream(`${server.url}/events?token=${subscribeToken(["packaged"])}`);
    const result = await runProcess(NODE, [join(project, "publish.mjs")], { SSE_URL: server.url, SSE_SECRET: SECRET_HEX });
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout.trim()).toEndWith("/node_modules/sse-server/dist/lib/client.js");
    expect((await stream.next(1))[0]).toMatchObject({ event: "from-package", data: "compiled" });
    stream.close();
  });

  test("its types check a TypeScript consumer, and catch a misuse", async () => {
    writeFileSync(
      join(project, "consumer.ts"),
      `import { SseClient, SseClientError, type ClientEvent } from "sse-server/client";
const sse: SseClient = new SseClient({ url: "http://127.0.0.1:8000", secret: "ab".repeat(32) });
const event: ClientEvent = { topic: "a", event: "e", data: "d" };
const sent: Promise<void> = sse.publish([event]);
const url: string = sse.subscribeUrl(["a"], { lastEventId: "x" });
const status: number = new SseClientError(400, "refused").status;
// @ts-expect-error: an event needs a topic
void sse.publish({ data: "no topic" });
void [sent, url, status];
`,
    );
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", lib: ["ES2022", "DOM"], types: [], strict: true, noEmit: true },
        files: ["consumer.ts"],
      }),
    );
    const tsc = await runProcess(`${BIN}/tsc`, ["-p", join(project, "tsconfig.json")], {}, 60_000);
    expect(tsc).toMatchObject({ code: 0, stdout: "" });
  }, 70_000);

  test("its sse-server bin runs on Node", async () => {
    const stream = await openStream(`${server.url}/events?token=${subscribeToken(["packaged-bin"])}`);
    const result = await runProcess(
      join(project, "node_modules/.bin/sse-server"),
      ["publish", "--topic", "packaged-bin", "--data", "from the bin"],
      { SSE_URL: server.url, SSE_SECRET: SECRET_HEX },
    );
    expect(result).toMatchObject({ code: 0, stdout: "published 1 event to topic packaged-bin\n" });
    expect((await stream.next(1))[0]).toMatchObject({ data: "from the bin" });
    stream.close();
  });

  test("sse-server/browser is the browser client, with its types", async () => {
    writeFileSync(
      join(project, "browser.ts"),
      `import { subscribe, type Subscription } from "sse-server/browser";
const subscription: Subscription = subscribe(() => "/events", { share: false });
subscription.addEventListener("reset", (event) => void event.data.length);
subscription.addEventListener("error", (event) => void event.status);
// @ts-expect-error: the source is a URL or a function returning one
subscribe(42);
void import.meta.resolve("sse-server/browser");
`,
    );
    writeFileSync(
      join(project, "tsconfig.browser.json"),
      JSON.stringify({
        compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", lib: ["ES2022", "DOM"], types: [], strict: true, noEmit: true },
        files: ["browser.ts"],
      }),
    );
    const tsc = await runProcess(`${BIN}/tsc`, ["-p", join(project, "tsconfig.browser.json")], {}, 60_000);
    expect(tsc).toMatchObject({ code: 0, stdout: "" });
    // Plain Node imports it too (it only defines things): the export resolves to the module file.
    writeFileSync(join(project, "resolve.mjs"), `await import("sse-server/browser");\nconsole.log(import.meta.resolve("sse-server/browser"));\n`);
    const resolved = await runProcess(NODE, [join(project, "resolve.mjs")]);
    expect(resolved).toMatchObject({ code: 0, stderr: "" });
    expect(resolved.stdout.trim()).toEndWith("/node_modules/sse-server/src/browser/client.js");
  }, 70_000);
});

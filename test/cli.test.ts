/** Every CLI command against a live server, and the compiled single-file binary. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import {
  eventsUrl,
  postSubmit,
  ROOT,
  runProcess,
  startServer,
  type RunningServer,
} from "./helpers/server.ts";
import { spawnProcess, waitForOutput } from "./helpers/process.ts";
import { openStream } from "./helpers/sse.ts";
import { referenceBase62, SECRET_HEX, submitToken, subscribeToken } from "./helpers/tokens.ts";
import { DASHBOARD_PAGE } from "../src/dashboard/page-source.ts";

const BUN = `${ROOT}node_modules/.bin/bun`;
const CLI = [BUN, "src/cli.ts"];
const BINARY = `${ROOT}dist/sse-server`;

function cli(args: string[], env: Record<string, string> = {}, command = CLI) {
  return runProcess(command[0]!, [...command.slice(1), ...args], { SSE_SECRET: SECRET_HEX, ...env });
}

/** The timestamp stamped into the token of a URL (Branca: bytes 1-4, big-endian). */
function timestampOf(url: string): number {
  const bytes = Uint8Array.from(referenceBase62.decode(new URL(url).searchParams.get("token")!));
  return new DataView(bytes.buffer).getUint32(1);
}

describe("sse-server CLI", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer("bun");
  });
  afterAll(() => server.stop());
  const url = () => ({ SSE_URL: server.url });

  test("--help prints usage and exits 0; no command or a bad one exits 2", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: sse-server <command>/);
    for (const command of ["serve", "keygen", "token", "dashboard-url", "publish", "listen", "healthcheck", "doctor"]) {
      expect(help.stdout).toContain(command);
    }
    expect((await cli([])).code).toBe(2);
    const bad = await cli(["frobnicate"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown command: frobnicate/);
    expect((await cli(["token", "--nope"])).code).toBe(2);
  });

  test("keygen prints a fresh 64-hex secret each time", async () => {
    const [a, b] = await Promise.all([cli(["keygen"]), cli(["keygen"])]);
    expect(a.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(a.stdout).not.toBe(b.stdout);
  });

  test("token prints a subscribe URL that opens a stream", async () => {
    const result = await cli(["token", "--topics", "cli-a,cli-b"], url());
    expect(result.code).toBe(0);
    const stream = await openStream(result.stdout.trim());
    expect(stream.response.status).toBe(200);
    await postSubmit(server, submitToken([{ topic: "cli-b", event: "", data: "via token" }]));
    expect((await stream.next(1))[0]!.data).toBe("via token");
    stream.close();
  });

  test("token --prefixes: the URL's stream gets every topic under them", async () => {
    const result = await cli(["token", "--prefixes", "cli-p/"], url());
    expect(result.code).toBe(0);
    const stream = await openStream(result.stdout.trim());
    expect(stream.response.status).toBe(200);
    await postSubmit(server, submitToken([{ topic: "cli-q/x", event: "", data: "not mine" }, { topic: "cli-p/x", event: "", data: "mine" }]));
    expect((await stream.next(1))[0]!.data).toBe("mine");
    stream.close();
    expect((await cli(["token"], url())).code).toBe(2);
  });

  test("token --ttl makes a token that expires sooner", async () => {
    const result = await cli(["token", "--topics", "short", "--ttl", "1"], url());
    const link = result.stdout.trim();
    const fresh = await fetch(link);
    expect(fresh.status).toBe(200);
    await fresh.body?.cancel();
    await Bun.sleep(2100);
    expect((await fetch(link)).status).toBe(401);
    expect((await cli(["token", "--topics", "x", "--ttl", "0"], url())).code).toBe(2);
  });

  test("dashboard-url prints the dashboard's URL, whose token lives an hour by default", async () => {
    const result = await cli(["dashboard-url"], url());
    expect(result.code).toBe(0);
    const link = result.stdout.trim();
    expect(link).toStartWith(`${server.url}/dashboard?token=`);
    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<title>sse-server dashboard</title>");
    // An hour: the token is stamped (server TTL − 3600) s before now; the server's TTL is the default day.
    const stamped = timestampOf(link);
    expect(Math.abs(stamped - (Date.now() / 1000 - (86400 - 3600)))).toBeLessThan(5);
    // Never longer than the server's own TTL: there the default is SSE_TOKEN_TTL itself.
    const short = await cli(["dashboard-url"], { ...url(), SSE_TOKEN_TTL: "600" });
    expect(Math.abs(timestampOf(short.stdout.trim()) - Date.now() / 1000)).toBeLessThan(5);
  });

  test("dashboard-url --ttl makes a link that expires sooner; over SSE_TOKEN_TTL is a usage error", async () => {
    const link = (await cli(["dashboard-url", "--ttl", "1"], url())).stdout.trim();
    const fresh = await fetch(link);
    expect(fresh.status).toBe(200);
    await fresh.text();
    await Bun.sleep(2100);
    const late = await fetch(link);
    expect(late.status).toBe(401);
    expect(await late.text()).toBe("invalid token: token has expired");
    for (const ttl of ["0", "86401", "1.5", "soon"]) {
      const bad = await cli(["dashboard-url", "--ttl", ttl], url());
      expect({ ttl, code: bad.code }).toEqual({ ttl, code: 2 });
      expect(bad.stderr).toMatch(/--ttl must be a whole number of seconds from 1 to 86400/);
    }
  });

  test("publish submits one event; a refused one exits 1 with the reason", async () => {
    const stream = await openStream(eventsUrl(server, subscribeToken(["cli-pub"])));
    const ok = await cli(["publish", "--topic", "cli-pub", "--event", "news", "--data", "line 1\nline 2"], url());
    expect(ok).toMatchObject({ code: 0, stdout: "published 1 event to topic cli-pub\n", stderr: "" });
    expect((await stream.next(1))[0]).toMatchObject({ event: "news", data: "line 1\nline 2" });
    stream.close();
    const refused = await cli(["publish", "--topic", "bad\ntopic"], url());
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/400.*CR or LF/);
    const noTopic = await cli(["publish"], url());
    expect(noTopic.code).toBe(2);
    const noSecret = await runProcess(CLI[0]!, [...CLI.slice(1), "publish", "--topic", "t"], url());
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toMatch(/SSE_SECRET is not set/);
  });

  test("publish --id: the same id twice is delivered once; without --id each publish is delivered", async () => {
    const stream = await openStream(eventsUrl(server, subscribeToken(["cli-id"])));
    for (const data of ["first", "again"]) {
      expect((await cli(["publish", "--topic", "cli-id", "--data", data, "--id", "cli-order-1"], url())).code).toBe(0);
    }
    for (let i = 0; i < 2; i++) expect((await cli(["publish", "--topic", "cli-id", "--data", "no id"], url())).code).toBe(0);
    expect((await stream.next(3)).map((e) => e.data)).toEqual(["first", "no id", "no id"]);
    stream.close();
    const tooLong = await cli(["publish", "--topic", "cli-id", "--id", "x".repeat(201)], url());
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toMatch(/400.*id: must be 1 to 200 bytes/);
  });

  test("presence prints the server's answer as one JSON line; no topics is a usage error", async () => {
    const stream = await openStream(eventsUrl(server, subscribeToken(["cli-seen"])));
    const answer = await cli(["presence", "--topics", "cli-seen,cli-unseen"], url());
    expect(answer).toMatchObject({ code: 0, stdout: '{"topics":{"cli-seen":1,"cli-unseen":0},"instances":1}\n', stderr: "" });
    stream.close();
    const noTopics = await cli(["presence"], url());
    expect(noTopics.code).toBe(2);
    expect(noTopics.stderr).toMatch(/--topics needs at least one topic/);
  });

  test("listen prints each event as a JSON line", async () => {
    const child = spawn(CLI[0]!, [...CLI.slice(1), "listen", "--topics", "cli-listen"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", SSE_SECRET: SECRET_HEX, ...url() },
    });
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    try {
      const deadline = Date.now() + 10_000;
      while (!stderr.includes("listening") && Date.now() < deadline) await Bun.sleep(20);
      await postSubmit(server, submitToken([{ topic: "cli-listen", event: "e", data: "a\nb" }]));
      while (!stdout.includes("\n") && Date.now() < deadline) await Bun.sleep(20);
      expect(JSON.parse(stdout.split("\n")[0]!)).toMatchObject({ event: "e", data: "a\nb" });
      expect(stderr).toBe("listening to cli-listen; stop with Ctrl-C\n");
    } finally {
      child.kill();
    }
  });

  test("listen --prefixes: says what it listens to, and prints the events under the prefix", async () => {
    const listener = spawnProcess([...CLI, "listen", "--topics", "cli-t", "--prefixes", "cli-l/"], { env: { SSE_SECRET: SECRET_HEX, ...url() } });
    try {
      await waitForOutput(listener, (out) => (out.includes("listening to cli-t, cli-l/*; stop with Ctrl-C") ? true : undefined), "listener", 10_000);
      // Watched before the submission: the listener may print the event before the answer comes back.
      const eventLine = waitForOutput(listener, (out) => /\{.*\}\n/.exec(out)?.[0], "event line", 10_000);
      await postSubmit(server, submitToken([{ topic: "cli-m/x", event: "", data: "not mine" }, { topic: "cli-l/x", event: "", data: "mine" }]));
      const line = await eventLine;
      expect(JSON.parse(line)).toMatchObject({ event: "message", data: "mine" });
    } finally {
      await listener.stop();
    }
  });

  test("the Quick start as the README types it: npx sse-server keygen, listen and publish show an event", async () => {
    const keygen = await runProcess("npx", ["sse-server", "keygen"], {}, 30_000);
    const secret = keygen.stdout.trim();
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    const own = await startServer("bun", { env: { SSE_SECRET: secret } });
    // PORT as the server has it: the commands then find it as they find port 8000 by default.
    const env = { SSE_SECRET: secret, PORT: String(own.port) };
    const listener = spawnProcess(["npx", "sse-server", "listen", "--topics", "hello"], { env });
    try {
      let stdout = "";
      listener.child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
      await waitForOutput(listener, (out) => (out.includes("listening to hello") ? true : undefined), "listener", 30_000);
      const published = await runProcess(
        "npx",
        ["sse-server", "publish", "--topic", "hello", "--event", "greeting", "--data", "Hello, world"],
        env,
        30_000,
      );
      expect(published).toMatchObject({ code: 0, stdout: "published 1 event to topic hello\n" });
      const deadline = Date.now() + 10_000;
      while (!stdout.includes("\n") && Date.now() < deadline) await Bun.sleep(20);
      expect(JSON.parse(stdout.split("\n")[0]!)).toMatchObject({ event: "greeting", data: "Hello, world" });
    } finally {
      await listener.stop();
      await own.stop();
    }
  }, 90_000);

  test("healthcheck: 0 and one line against a live server, 1 and the reason when nothing answers", async () => {
    const live = await cli(["healthcheck"], url());
    expect(live).toMatchObject({ code: 0, stdout: `live: ${server.url}/health/live answered 200\n` });
    const dead = await cli(["healthcheck", "--url", "http://127.0.0.1:9"]);
    expect(dead.code).toBe(1);
    expect(dead.stderr).toMatch(/^sse-server healthcheck: http:\/\/127\.0\.0\.1:9\/health\/live: .+\n$/);
  });
});

describe("single-file binary (bun run build)", () => {
  test("builds, serves, and publishes", async () => {
    const build = await runProcess(BUN, ["run", "build"], {}, 120_000);
    expect(build.code).toBe(0);
    expect(existsSync(BINARY)).toBe(true);
    const server = await startServer("bun", { command: [BINARY, "serve"] });
    try {
      expect((await fetch(`${server.url}/ping`)).status).toBe(200);
      expect((await fetch(`${server.url}/events?token=forged`)).status).toBe(401);
      // The browser client is embedded in the binary, not read from a file beside it.
      expect(await (await fetch(`${server.url}/client.js`)).text()).toBe(readFileSync(`${ROOT}src/browser/client.js`, "utf8"));
      // So is the dashboard page, with the link the binary prints.
      const dashboard = await cli(["dashboard-url"], { SSE_URL: server.url }, [BINARY]);
      const page = await fetch(dashboard.stdout.trim());
      expect(page.status).toBe(200);
      expect(await page.text()).toBe(DASHBOARD_PAGE);
      const stream = await openStream(eventsUrl(server, subscribeToken(["bin"])));
      const published = await cli(["publish", "--topic", "bin", "--data", "from the binary"], { SSE_URL: server.url }, [BINARY]);
      expect(published).toMatchObject({ code: 0, stdout: "published 1 event to topic bin\n" });
      expect((await stream.next(1))[0]!.data).toBe("from the binary");
      // A long token is verified on the worker thread, which the build bundles as a second entry point.
      const data = "x".repeat(5000);
      expect((await postSubmit(server, submitToken([{ topic: "bin", event: "", data }]))).status).toBe(200);
      expect((await stream.next(1))[0]!.data).toBe(data);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/^sse_tokens_offloaded_total 1$/m);
      expect(server.logs.filter((l) => l.includes('"level":"error"'))).toEqual([]);
      stream.close();
      expect(await server.stop()).toBe(0);
    } finally {
      await server.stop();
    }
  }, 120_000);
});

/** Start-up, routing, CORS, keep-alive and shutdown, on every runtime. */
import { describe, expect, test } from "bun:test";
import { createServer, type AddressInfo } from "node:net";
import {
  ALL_SERVERS,
  eventsUrl,
  expectHealthy,
  postSubmit,
  ROOT,
  RUNTIMES,
  SERVER_KINDS,
  SERVERS,
  runtimeOf,
  runToExit,
  startServer,
  waitForLog,
  type Runtime,
} from "../helpers/server.ts";
import { openStream } from "../helpers/sse.ts";
import { SECRET_HEX, submitToken, subscribeToken } from "../helpers/tokens.ts";

for (const runtime of SERVERS) {
  describe(`${runtime}: lifecycle`, () => {
    test("bad configuration: exit 1 at once, one line on stderr naming the variable", async () => {
      const cases: [Record<string, string>, RegExp][] = [
        [{}, /SSE_SECRET is required/],
        [{ SSE_SECRET: SECRET_HEX.slice(2) }, /SSE_SECRET must be exactly 64 hex/],
        [{ SSE_SECRET: SECRET_HEX, PORT: "eighty" }, /PORT must be a whole number/],
        [{ SSE_SECRET: SECRET_HEX, SSE_DENO_SERVER: "http1" }, /SSE_DENO_SERVER must be serve .* the own http1 server was removed/],
      ];
      await Promise.all(
        cases.map(async ([env, message]) => {
          const { code, stdout, stderr } = await runToExit(SERVER_KINDS[runtime].runtime, env);
          expect(code).toBe(1);
          expect(stderr.trim().split("\n")).toHaveLength(1);
          expect(stderr).toMatch(message);
          expect(stdout).not.toContain("listening");
          expect(stderr + stdout).not.toContain(SECRET_HEX.slice(2));
        }),
      );
    });

    test("BASE_PATH: with or without trailing slash, every route moves under it", async () => {
      for (const basePath of ["/sse-server/", "/sse-server"]) {
        const server = await startServer(runtime, { basePath });
        try {
          const origin = `http://127.0.0.1:${server.port}`;
          expect((await fetch(`${origin}/sse-server/ping`)).status).toBe(200);
          expect((await fetch(`${origin}/ping`)).status).toBe(404);
          const stream = await openStream(`${origin}/sse-server/events?token=${subscribeToken(["bp"])}`);
          const res = await fetch(`${origin}/sse-server/submit`, {
            method: "POST",
            body: submitToken([{ topic: "bp", event: "", data: basePath }]),
          });
          expect(res.status).toBe(200);
          expect((await stream.next(1))[0]!.data).toBe(basePath);
          stream.close();
          expect((await fetch(`${origin}/submit`, { method: "POST", body: "x" })).status).toBe(404);
          // Under the base path a known route with the wrong method is a 405; outside it, nothing is known.
          expect((await fetch(`${origin}/sse-server/submit`)).status).toBe(405);
          expect((await fetch(`${origin}/events`, { method: "POST" })).status).toBe(404);
        } finally {
          await server.stop();
        }
      }
    });

    test("CORS: every response allows any origin; preflights are answered", async () => {
      const server = await startServer(runtime);
      try {
        const origin = { Origin: "https://app.example" };
        for (const res of [
          await fetch(`${server.url}/ping`, { headers: origin }),
          await fetch(`${server.url}/health/live`, { headers: origin }),
          await fetch(`${server.url}/health/ready`, { headers: origin }),
          await fetch(`${server.url}/metrics`, { headers: origin }),
          await fetch(`${server.url}/no-such-route`, { headers: origin }), // 404
          await fetch(`${server.url}/events`, { headers: origin }), // 401
          await postSubmit(server, "bad", { headers: origin }), // 401
          await fetch(`${server.url}/submit`, { method: "PUT", headers: origin }), // 405
        ]) {
          expect(res.headers.get("access-control-allow-origin")).toBe("*");
          await res.text();
        }
        for (const path of ["/submit", "/events"]) {
          const preflight = await fetch(`${server.url}${path}`, {
            method: "OPTIONS",
            headers: {
              ...origin,
              "Access-Control-Request-Method": path === "/submit" ? "POST" : "GET",
              "Access-Control-Request-Headers": "content-type, last-event-id",
            },
          });
          expect(preflight.status).toBeLessThan(300);
          expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
          expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
          expect(preflight.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("content-type");
        }
      } finally {
        await server.stop();
      }
    });

    test("heartbeat comments keep an idle stream alive", async () => {
      const server = await startServer(runtime, { env: { SSE_HEARTBEAT: "1" } });
      try {
        const stream = await openStream(eventsUrl(server, subscribeToken(["hb"])));
        await Bun.sleep(3500);
        // The opening comment, then at least two heartbeats.
        expect(stream.comments.length).toBeGreaterThanOrEqual(3);
        stream.close();
      } finally {
        await server.stop();
      }
    });

    test("SIGTERM: open streams end promptly, the process exits 0", async () => {
      const server = await startServer(runtime);
      const streams = await Promise.all(
        [1, 2, 3].map(() => openStream(eventsUrl(server, subscribeToken(["bye"])))),
      );
      await expectHealthy(server);
      const started = Date.now();
      const code = await server.stop("SIGTERM");
      expect(code).toBe(0);
      expect(Date.now() - started).toBeLessThan(3000);
      for (const stream of streams) expect(await stream.ended).toBeDefined();
      expect(server.logs.some((l) => l.includes('"stopped"'))).toBe(true);
    });

    test("SIGINT exits 0 too", async () => {
      const server = await startServer(runtime);
      expect(await server.stop("SIGINT")).toBe(0);
    });
  });
}

describe("a port already in use", () => {
  for (const kind of ALL_SERVERS) {
    test(`${kind}: exit 1 at once, one line on stderr naming the address`, async () => {
      const taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
      const { port } = taken.address() as AddressInfo;
      try {
        const env = { SSE_SECRET: SECRET_HEX, HOST: "127.0.0.1", PORT: String(port), ...SERVER_KINDS[kind].env };
        const { code, stdout, stderr } = await runToExit(SERVER_KINDS[kind].runtime, env);
        expect(code).toBe(1);
        expect(stderr).toBe(`sse-server: cannot listen on 127.0.0.1:${port}: address already in use\n`);
        expect(stdout).not.toContain("listening");
      } finally {
        taken.close();
      }
    });
  }
});

describe("idle streams are never cut by the runtime itself", () => {
  // Bun.serve closes connections silent for 10 s by default; Node and Deno have their own
  // timeouts. With heartbeats far apart, a stream idles past them and still delivers.
  test("all runtimes, idle for 12 s", async () => {
    const servers = await Promise.all(SERVERS.map((r) => startServer(r, { env: { SSE_HEARTBEAT: "300" } })));
    try {
      const streams = await Promise.all(servers.map((s) => openStream(eventsUrl(s, subscribeToken(["idle"])))));
      await Bun.sleep(12_000);
      await Promise.all(
        servers.map((s) => postSubmit(s, submitToken([{ topic: "idle", event: "", data: s.runtime }]))),
      );
      for (const [i, stream] of streams.entries()) {
        expect((await stream.next(1))[0]!.data).toBe(servers[i]!.runtime);
        stream.close();
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  }, 40_000);
});

describe("each runtime is really that runtime", () => {
  test("the server processes run on Bun, Deno and Node", async () => {
    const servers = await Promise.all(RUNTIMES.map((r) => startServer(r)));
    try {
      expect(servers.map(runtimeOf)).toEqual(["bun", "deno", "node"]);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  });
});

describe("the documented start commands", () => {
  // What the README tells users to type, run as typed and stopped as a terminal stops a
  // job (the signal goes to its process group: npm runs the server behind a shell that
  // would not pass a signal on): each serves, then shuts down in order.
  const commands: [string, Runtime, string[]][] = [
    ["npm run server", "bun", ["npm", "run", "server"]],
    ["npx bun run server", "bun", ["npx", "bun", "run", "server"]],
    ["npm start", "node", ["npm", "start"]],
    ["npx deno task start", "deno", ["npx", "deno", "task", "start"]],
  ];
  for (const [name, runtime, command] of commands) {
    test(`${name} serves, and stops in order on SIGTERM`, async () => {
      const server = await startServer(runtime, { command, processGroup: true });
      try {
        expect((await fetch(`${server.url}/ping`)).status).toBe(200);
      } finally {
        await server.stop("SIGTERM");
      }
      // The wrapper may be gone first; the server's last line still comes through the pipe.
      await waitForLog(server, (entry) => entry.msg === "stopped");
    });
  }
});

/**
 * `GET client.js`: the server serves the browser client itself, so a page without a
 * build step can `import { subscribe } from "<server>/client.js"`. On every runtime, under
 * a base path, byte for byte the module file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { CLIENT_SOURCE } from "../../src/browser/client-source.ts";
import { ROOT, SERVERS, startServer, type RunningServer } from "../helpers/server.ts";

const CLIENT_FILE = readFileSync(`${ROOT}src/browser/client.js`, "utf8");

test("the embedded client is the module file (else run: bun scripts/embed-browser-client.ts)", () => {
  expect(CLIENT_SOURCE).toBe(CLIENT_FILE);
});

for (const runtime of SERVERS) {
  describe(`${runtime}: GET client.js`, () => {
    let server: RunningServer;
    beforeAll(async () => void (server = await startServer(runtime, { basePath: "/sse/" })));
    afterAll(() => server?.stop());

    test("serves the module: JavaScript, cacheable, to any origin", async () => {
      const response = await fetch(`${server.url}/client.js`, { headers: { Origin: "http://elsewhere.example" } });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
      expect(response.headers.get("cache-control")).toBe("public, max-age=3600");
      expect(response.headers.get("access-control-allow-origin")).toBe("*");
      expect(await response.text()).toBe(CLIENT_FILE);
    });

    test("only under the base path; other methods get a 405", async () => {
      const outside = await fetch(`http://127.0.0.1:${server.port}/client.js`);
      expect(outside.status).toBe(404);
      await outside.text();
      const post = await fetch(`${server.url}/client.js`, { method: "POST" });
      expect(post.status).toBe(405);
      expect(post.headers.get("allow")).toBe("GET, HEAD, OPTIONS");
      await post.text();
    });
  });
}

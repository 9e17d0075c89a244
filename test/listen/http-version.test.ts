/**
 * The doctor's HTTP version probe (src/listen/http-version.ts) against raw loopback
 * servers: the version of a status line, and an answer that is not HTTP.
 */
import { afterEach, expect, test } from "bun:test";
import net from "node:net";
import { probeHttpVersion } from "../../src/listen/http-version.ts";

const servers: net.Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A TCP server that answers any request with `answer` and closes; resolves its URL. */
function rawServer(answer: string, seen: string[] = []): Promise<URL> {
  const server = net.createServer((socket) => {
    socket.once("data", (request) => {
      seen.push(request.toString("latin1"));
      socket.end(answer);
    });
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(new URL(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/sse-server/`))));
}

test("plain http: the status line's version, asked of the base path's ping", async () => {
  const seen: string[] = [];
  const url = await rawServer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", seen);
  expect(await probeHttpVersion(url)).toEqual({ version: "HTTP/1.1", by: "status line", tls: false });
  expect(seen[0]).toStartWith(`HEAD /sse-server/ping HTTP/1.1\r\nHost: ${url.host}\r\n`);
  expect((await probeHttpVersion(await rawServer("HTTP/1.0 200 OK\r\n\r\n"))).version).toBe("HTTP/1.0");
});

test("an answer that is not HTTP, or none, is an error, not a guess", async () => {
  await expect(probeHttpVersion(await rawServer("SSH-2.0-OpenSSH_9.2\r\n"))).rejects.toThrow("not an HTTP answer");
  await expect(probeHttpVersion(await rawServer(""))).rejects.toThrow("closed without an answer");
});

import { afterEach, describe, expect, test } from "bun:test";
import net from "node:net";
import type { ByteConn } from "../../src/http1/reader.ts";
import type { ConnSource } from "../../src/http1/server.ts";
import { listenNet, netSource } from "../../src/listen/net-source.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

let open: { source: ConnSource; clients: net.Socket[] } | undefined;
afterEach(() => {
  open?.source.close();
  for (const client of open?.clients ?? []) client.destroy();
  open = undefined;
});

/** A listening source and a client connected to it, with the server's end accepted. */
async function connected() {
  const { port, source } = await listenNet("127.0.0.1", 0);
  const client = net.connect(port, "127.0.0.1");
  client.on("error", () => {});
  open = { source, clients: [client] };
  const conn = await source.accept();
  const received: Uint8Array[] = [];
  client.on("data", (bytes: Uint8Array) => received.push(bytes));
  const text = () => received.map((b) => decoder.decode(b)).join("");
  return { source, client, conn, text };
}

async function readText(conn: ByteConn, size = 1024): Promise<string | null> {
  const into = new Uint8Array(size);
  const count = await conn.read(into);
  return count === null ? null : decoder.decode(into.subarray(0, count));
}

async function until(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await Bun.sleep(5);
  }
}

describe("node:net sockets as byte connections", () => {
  test("reads what the client sends, in pieces no larger than asked; null at its end", async () => {
    const { client, conn } = await connected();
    client.write("hello world");
    expect(await readText(conn, 5)).toBe("hello");
    expect(await readText(conn)).toBe(" world");
    client.end();
    expect(await readText(conn)).toBeNull();
  });

  test("writes reach the client in order", async () => {
    const { conn, text } = await connected();
    expect(await conn.write(encoder.encode("one "))).toBe(4);
    expect(await conn.write(encoder.encode("two"))).toBe(3);
    await until(() => text() === "one two");
  });

  test("a write to a client that reads nothing waits for room, and fails when the connection closes", async () => {
    const { client, conn } = await connected();
    client.pause();
    const block = new Uint8Array(1024 * 1024);
    let pending: Promise<number> | undefined;
    for (let i = 0; i < 64 && !pending; i++) {
      const write = conn.write(block);
      const settled = await Promise.race([write.then(() => true), Bun.sleep(20).then(() => false)]);
      if (!settled) pending = write;
    }
    expect(pending).toBeDefined(); // the socket's buffers filled up: the write waits
    conn.close();
    await expect(pending!).rejects.toThrow("connection closed");
    await expect(conn.write(block)).rejects.toThrow("connection closed");
  });

  test("connections wait to be accepted; closing the source rejects a pending accept and every later one", async () => {
    const { port, source } = await listenNet("127.0.0.1", 0);
    const clients = [net.connect(port, "127.0.0.1"), net.connect(port, "127.0.0.1")];
    open = { source, clients };
    for (const client of clients) client.on("error", () => {});
    await source.accept();
    await until(() => clients.every((c) => !c.connecting));
    await Bun.sleep(20); // the second connection is now queued, not accepted
    const pending = source.accept().then(() => source.accept());
    source.close();
    await expect(pending).rejects.toThrow("connection closed");
    await expect(source.accept()).rejects.toThrow("connection closed");
  });

  test("a failure to accept (the server's error) rejects one accept, then accepting goes on", async () => {
    const server = net.createServer({ pauseOnConnect: true });
    const source = netSource(server);
    const { port } = await new Promise<net.AddressInfo>((resolve) =>
      server.listen(0, "127.0.0.1", () => resolve(server.address() as net.AddressInfo)),
    );
    const client = net.connect(port, "127.0.0.1");
    client.on("error", () => {});
    open = { source, clients: [client] };
    const emfile = Object.assign(new Error("accept EMFILE"), { code: "EMFILE" });
    const first = source.accept(); // waiting when the error comes
    server.emit("error", emfile);
    await expect(first).rejects.toBe(emfile);
    server.emit("error", emfile); // no one waiting: kept for the next accept
    await expect(source.accept()).rejects.toBe(emfile);
    expect(await source.accept()).toBeDefined(); // the client's connection
  });

  test("a port in use is an error, not a hang", async () => {
    const { port, source } = await listenNet("127.0.0.1", 0);
    open = { source, clients: [] };
    await expect(listenNet("127.0.0.1", port)).rejects.toThrow();
  });
});

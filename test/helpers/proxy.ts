/**
 * A TCP proxy on a free loopback port, for dropping a client's connections to the server
 * while the client stays up: `cutAll()` destroys both sides of every proxied connection at
 * once, the way a network failure (or a restarted load balancer) would. It records what
 * passes each way, so a test can read the request heads a browser sent (e.g. whether a
 * reconnect carried `Last-Event-ID`) and the bytes it was sent back.
 */
import { connect, createServer, type Socket } from "node:net";

export interface ProxiedConnection {
  /** Everything the client sent, as text (request heads only, for GET traffic). */
  readonly request: string;
  /** Everything the server sent back, as text (raw HTTP, possibly chunked). */
  readonly response: string;
  readonly closed: boolean;
}

export interface TcpProxy {
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  /** Every connection accepted so far, in order. */
  readonly connections: readonly ProxiedConnection[];
  /** The request heads of every connection, in order (assumes requests without bodies). */
  requestHeads(): string[];
  /** Destroys every open proxied connection, both sides; returns how many it cut. */
  cutAll(): number;
  /** Cuts everything and stops listening. */
  close(): Promise<void>;
}

interface Connection {
  request: string;
  response: string;
  closed: boolean;
  readonly client: Socket;
  readonly upstream: Socket;
}

export function startProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const connections: Connection[] = [];

  const server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    const conn: Connection = { request: "", response: "", closed: false, client, upstream };
    connections.push(conn);
    const end = () => {
      conn.closed = true;
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (chunk: Buffer) => {
      conn.request += chunk.toString("latin1");
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      conn.response += chunk.toString("utf8");
      client.write(chunk);
    });
    // Either side ending or failing ends both: a proxy never half-holds a connection.
    for (const socket of [client, upstream]) {
      socket.on("error", end);
      socket.on("close", end);
      socket.on("end", end);
    }
  });

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        reject(new Error("proxy: no TCP address"));
        return;
      }
      const cutAll = () => {
        let cut = 0;
        for (const conn of connections) {
          if (conn.closed) continue;
          conn.closed = true;
          conn.client.destroy();
          conn.upstream.destroy();
          cut++;
        }
        return cut;
      };
      resolve({
        port: address.port,
        origin: `http://127.0.0.1:${address.port}`,
        connections,
        requestHeads: () =>
          connections.flatMap((c) => c.request.split("\r\n\r\n").filter((head) => head.trim() !== "")),
        cutAll,
        close() {
          cutAll();
          return new Promise<void>((done) => server.close(() => done()));
        },
      });
    });
  });
}

/** A header's value in a raw request head (case-insensitive name), or undefined. */
export function headerOf(head: string, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const line of head.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === lower) return line.slice(colon + 1).trim();
  }
  return undefined;
}

/**
 * An HTTP/1.1 server over any source of byte connections: accepts, serves each
 * connection (./connection.ts), and shuts down in two steps like the runtimes' own
 * servers. Portable; a runtime adapter supplies the listening socket.
 */
import { Connection, type ConnectionOptions, type Fetch } from "./connection.ts";
import type { ByteConn } from "./reader.ts";

export interface ConnSource {
  accept(): Promise<ByteConn>;
  close(): void;
}

export interface Http1Options extends ConnectionOptions {
  /** Called when accepting fails (e.g. out of file descriptors); accepting goes on after a pause. */
  readonly onAcceptError: (error: unknown) => void;
  /**
   * True for a failure that concerns only the connection being accepted (reset by its
   * peer before it was taken): accepting goes on at once, unlogged, so a client cannot
   * stall the listener by resetting connections.
   */
  readonly isConnectionError?: (error: unknown) => boolean;
}

export const DEFAULT_HTTP1_LIMITS = {
  /** Tokens travel in the URL; 64 KiB leaves room for large subscriptions. */
  maxHeadBytes: 64 * 1024,
  requestTimeoutMs: 30_000,
} as const;

/** Pause after a failed accept, so a full descriptor table is not retried in a busy loop. */
const ACCEPT_RETRY_MS = 100;

export class Http1Server {
  readonly #connections = new Set<Connection>();
  #stopped = false;
  /** One timer for all connections: a timer each costs Deno ~3 KB per idle connection. */
  readonly #sweep: ReturnType<typeof setInterval>;

  constructor(
    private readonly source: ConnSource,
    private readonly fetch: Fetch,
    private readonly options: Http1Options,
  ) {
    const every = Math.max(10, Math.min(1000, options.requestTimeoutMs / 4));
    this.#sweep = setInterval(() => {
      const now = Date.now();
      for (const connection of this.#connections) connection.closeIfOverdue(now);
    }, every);
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Accepts until `stopAccepting`; resolves then. */
  async acceptLoop(): Promise<void> {
    while (!this.#stopped) {
      let conn: ByteConn;
      try {
        conn = await this.source.accept();
      } catch (error) {
        if (this.#stopped) return;
        if (this.options.isConnectionError?.(error)) continue;
        this.options.onAcceptError(error);
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      this.#serve(conn);
    }
  }

  /** Stops accepting; idle keep-alive connections close, open responses go on. */
  stopAccepting(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.source.close();
    for (const connection of this.#connections) connection.closeWhenIdle();
  }

  /** Drops every connection. */
  closeAll(): void {
    this.stopAccepting();
    clearInterval(this.#sweep);
    for (const connection of this.#connections) connection.close();
  }

  #serve(conn: ByteConn): void {
    const connection = new Connection(conn, this.fetch, this.options);
    this.#connections.add(connection);
    void connection.serve().finally(() => this.#connections.delete(connection));
  }
}

/** Serving through node:http, by way of @hono/node-server. */
import { serve, type Http2Bindings, type HttpBindings } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { IncomingMessage, ServerResponse, type Server } from "node:http";
import type { Socket } from "node:net";
import { encodeChunk, LAST_CHUNK } from "./chunked.ts";
import type { FetchHandler, Listen } from "../server.ts";
import { CLAIMING_SERVER, claimableStream, streamingResponse, type FrameWriter } from "../stream.ts";

export const listenWithNode: Listen = (fetch, config) =>
  new Promise((resolve, reject) => {
    const server = serve({ fetch: writingEventStreams(fetch), port: config.port, hostname: config.host }, (info) =>
      resolve({
        port: info.port,
        stopAccepting: () => void server.close(),
        close: () => {
          server.close();
          server.closeAllConnections();
        },
      }),
    ) as Server;
    // Until it listens, a failure to (address in use, no permission) is the caller's to report.
    server.once("error", reject);
    server.once("listening", () => server.off("error", reject));
    // A stream is one long response: no request or idle timeout may cut it.
    server.requestTimeout = 0;
    server.timeout = 0;
  });

/**
 * Event streams are written here, each frame to the socket as the hub pushes it, instead
 * of @hono/node-server reading every body as a web stream and writing it through
 * `ServerResponse`: per frame and subscriber, that is a read, promises, a microtask hop,
 * a cork and a chunk header built as a string, which cost Node twice the socket write
 * itself (BENCHMARKS.md). Here a frame's chunk is framed once for all its subscribers.
 */
const writingEventStreams =
  (fetch: FetchHandler) =>
  (request: Request, env: HttpBindings | Http2Bindings): Response | Promise<Response> => {
    const refused = refuseFaultyFraming(env) ?? refuseCredentialsInTarget(env);
    if (refused) return refused;
    // The app never reads node-server's bindings; it is told instead that streams are claimed.
    const response = fetch(request, CLAIMING_SERVER);
    // A Response given synchronously stays so: node-server writes those on a faster path.
    return response instanceof Promise ? response.then((r) => takeOver(r, env)) : takeOver(response, env);
  };

/** Sockets that carried a request with faulty framing: nothing after it on them is a request. */
const desynced = new WeakSet<Socket>();

/**
 * An HTTP/1.0 request with Transfer-Encoding has faulty framing: RFC 9112 (6.1) says the
 * server MUST close the connection after answering it, for the bytes after its body may
 * be what a front proxy took for part of it. node:http (v20) would keep the connection
 * open, and llhttp parses every request already in the buffer: the ones after it reach
 * 'request' before this answer is written. So it is refused (400, close) and its socket
 * marked; each later request on that socket is refused too, without reaching the app.
 * A request's 'request' event comes synchronously as llhttp parses it, so the faulty one
 * always comes first.
 */
function refuseFaultyFraming(env: HttpBindings | Http2Bindings): Response | undefined {
  const { incoming, outgoing } = env;
  if (!(incoming instanceof IncomingMessage) || !(outgoing instanceof ServerResponse)) return undefined;
  const socket = incoming.socket;
  const faulty = incoming.httpVersion === "1.0" && incoming.headers["transfer-encoding"] !== undefined;
  if (faulty) desynced.add(socket);
  else if (!desynced.has(socket)) return undefined;
  outgoing.shouldKeepAlive = false;
  const reason = faulty ? "Transfer-Encoding in an HTTP/1.0 request" : "a request with faulty framing came before";
  return new Response(`bad request: ${reason}`, { status: 400, headers: { connection: "close" } });
}

/**
 * An absolute-form request target with credentials (`POST http://user@host/submit`):
 * node-server takes it as the request's URL, from which Node's Request cannot be made, so
 * the app's first read of the request would throw (a 500). It is the client's mistake.
 */
function refuseCredentialsInTarget(env: HttpBindings | Http2Bindings): Response | undefined {
  const target = env.incoming.url;
  if (target === undefined || target.startsWith("/") || !URL.canParse(target)) return undefined;
  const { username, password } = new URL(target);
  if (username === "" && password === "") return undefined;
  return new Response("bad request: credentials in the request target", { status: 400 });
}

/** Writes `response` here if it is an event stream (then node-server is told it was sent). */
function takeOver(response: Response, env: HttpBindings | Http2Bindings): Response {
  const claimable = claimableStream(response);
  if (!claimable) return response;
  const out = env.outgoing;
  // A client already gone is left to @hono/node-server, which cancels the body.
  if (!(out instanceof ServerResponse) || !out.socket || out.destroyed) return streamingResponse(claimable);
  const socket = out.socket;
  // The head and the frames queued so far leave in one write, not one each.
  socket.cork();
  const claimed = claimable.stream.claim(new SocketWriter(out, socket, claimable.headers));
  socket.uncork();
  if (!claimed) return streamingResponse(claimable);
  out.on("close", claimed.clientGone);
  // The request (a GET: no body) is let end now. node:http then finds it finished when the
  // client goes, instead of destroying it with an "aborted" error and formatting that
  // error's stack (8-11 µs; 26 with tsx's source maps) for every stream that drops.
  if (env.incoming instanceof IncomingMessage) env.incoming.resume();
  return RESPONSE_ALREADY_SENT;
}

/** Writes a claimed stream's frames straight to the socket, after node:http sent the head. */
class SocketWriter implements FrameWriter {
  #headers: Readonly<Record<string, string>> | undefined;
  #chunked = false;
  /** Frames written since the socket's buffer last emptied below its mark. */
  #waiting = 0;

  constructor(
    private readonly out: ServerResponse,
    private readonly socket: Socket,
    headers: Readonly<Record<string, string>>,
  ) {
    this.#headers = headers;
  }

  write(frame: Uint8Array): number {
    if (this.#headers) this.#sendHead(this.#headers);
    if (this.socket.write(this.#chunked ? encodeChunk(frame) : frame)) this.#waiting = 0;
    else this.#waiting++;
    return this.#waiting;
  }

  end(): void {
    if (this.#chunked) {
      this.socket.write(LAST_CHUNK);
      this.out.chunkedEncoding = false; // written above: end() must not add its own
    }
    this.out.end();
  }

  abort(): void {
    this.out.destroy();
  }

  /** node:http writes the head and decides the framing (chunked, or the connection's end for HTTP/1.0). */
  #sendHead(headers: Readonly<Record<string, string>>): void {
    this.#headers = undefined;
    this.out.writeHead(200, headers);
    this.out.flushHeaders();
    // From here on the body bytes bypass ServerResponse, so its chunk framing is done here.
    this.#chunked = this.out.chunkedEncoding;
    this.socket.on("drain", () => void (this.#waiting = 0));
  }
}

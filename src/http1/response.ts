/**
 * A Response's head and body framing as HTTP/1.1 bytes (RFC 9112 §4, §6, §7).
 */
const encoder = new TextEncoder();

/** How the body goes out. */
export type ResponseFraming = "none" | "length" | "chunked" | "close";

export interface ResponsePlan {
  readonly framing: ResponseFraming;
  /** Whether the connection is closed after this response. */
  readonly close: boolean;
}

const REASONS: Record<number, string> = {
  100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
  301: "Moved Permanently", 302: "Found", 304: "Not Modified",
  400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
  405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
  415: "Unsupported Media Type", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
  500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
};

/**
 * Picks the framing for `response` to a request of `method` (HTTP/1.1 or 1.0).
 * `streamed`: the body comes from elsewhere (a claimed event stream), whatever `response.body` is.
 */
export function planResponse(
  response: Response,
  method: string,
  http11: boolean,
  keepAlive: boolean,
  streamed = false,
): ResponsePlan {
  const status = response.status;
  const bodiless = method === "HEAD" || status === 204 || status === 304 || status < 200;
  if (bodiless) return { framing: "none", close: !keepAlive };
  // A declared length is the app's; no body at all goes out as `content-length: 0`.
  if (response.headers.has("content-length") || (response.body === null && !streamed)) {
    return { framing: "length", close: !keepAlive };
  }
  // HTTP/1.0 has no chunked coding: the end of the body is the end of the connection.
  return http11 ? { framing: "chunked", close: !keepAlive } : { framing: "close", close: true };
}

/** The status line and header section of `response`, framed as `plan` says. */
export function encodeHead(response: Response, plan: ResponsePlan): Uint8Array {
  const zeroLength = plan.framing === "length" && response.body === null && !response.headers.has("content-length");
  return encodeHeadLines(response.status, response.headers, plan, zeroLength);
}

let lastStreamHead:
  | { headers: object; framing: ResponseFraming; close: boolean; date: string; bytes: Uint8Array }
  | undefined;

/**
 * The head of a 200 event stream whose headers are `headers` (a claimed stream's; the same
 * object for every stream). Built once per second and framing, not per connection: reading
 * a Response's Headers back costs Deno more than the rest of the head.
 */
export function encodeStreamHead(headers: Readonly<Record<string, string>>, plan: ResponsePlan): Uint8Array {
  const date = httpDate();
  const last = lastStreamHead;
  if (last?.headers === headers && last.framing === plan.framing && last.close === plan.close && last.date === date) {
    return last.bytes;
  }
  // As a Headers object lists them: lower-case names, sorted.
  const lines = Object.entries(headers)
    .map(([name, value]): [string, string] => [name.toLowerCase(), value])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const bytes = encodeHeadLines(200, lines, plan, false, date);
  lastStreamHead = { headers, framing: plan.framing, close: plan.close, date, bytes };
  return bytes;
}

function encodeHeadLines(
  status: number,
  headers: Iterable<[string, string]>,
  plan: ResponsePlan,
  zeroLength: boolean,
  date = httpDate(),
): Uint8Array {
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\ndate: ${date}\r\n`;
  for (const [name, value] of headers) {
    // Framing and connection handling are this layer's, never the app's.
    if (name === "connection" || name === "transfer-encoding" || name === "keep-alive") continue;
    head += `${name}: ${value}\r\n`;
  }
  if (plan.framing === "chunked") head += "transfer-encoding: chunked\r\n";
  if (zeroLength) head += "content-length: 0\r\n";
  if (plan.close) head += "connection: close\r\n";
  return encoder.encode(`${head}\r\n`);
}

/** The last chunk of a chunked body (no trailers). */
export const LAST_CHUNK = encoder.encode("0\r\n\r\n");

/**
 * `bytes` as one chunk. An event's frame is one Uint8Array shared by every subscriber,
 * so its chunk is built once and shared too: the cache holds it as long as the frame lives.
 */
const framedChunks = new WeakMap<Uint8Array, Uint8Array>();

export function encodeChunk(bytes: Uint8Array): Uint8Array {
  let chunk = framedChunks.get(bytes);
  if (chunk === undefined) {
    const size = encoder.encode(`${bytes.length.toString(16)}\r\n`);
    chunk = new Uint8Array(size.length + bytes.length + 2);
    chunk.set(size);
    chunk.set(bytes, size.length);
    chunk.set([13, 10], size.length + bytes.length);
    framedChunks.set(bytes, chunk);
  }
  return chunk;
}

/** A short plain-text answer given by this layer itself; the connection closes after it. */
export function encodeErrorResponse(status: number, message: string): Uint8Array {
  const body = encoder.encode(`${message}\n`);
  const head = encoder.encode(
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\ndate: ${httpDate()}\r\n` +
      `content-type: text/plain; charset=UTF-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`,
  );
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(head);
  bytes.set(body, head.length);
  return bytes;
}

let dateSecond = -1;
let dateText = "";

/** The IMF-fixdate of now, computed at most once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

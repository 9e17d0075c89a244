/**
 * HTTP/1.1 request heads (RFC 9112 §2–3, §6): where a head ends in the bytes received,
 * and what it says. Pure functions over bytes, so they are tested without sockets.
 * Anything this server cannot read unambiguously is refused, never guessed: a request
 * that two parsers could frame differently is how request smuggling starts.
 */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 431 | 501,
    message: string,
  ) {
    super(message);
  }
}

/** How the request body is delimited (RFC 9112 §6.3). */
export type BodyFraming = { kind: "none" } | { kind: "length"; length: number } | { kind: "chunked" };

export interface RequestHead {
  readonly method: string;
  /** Absolute URL built from the Host header and the request target. */
  readonly url: string;
  readonly headers: Headers;
  /** HTTP/1.0 (false) closes after each response; HTTP/1.1 keeps the connection. */
  readonly http11: boolean;
  readonly keepAlive: boolean;
  readonly body: BodyFraming;
  readonly expectContinue: boolean;
}

const LF = 10;
const CR = 13;

/**
 * The length of the head (through its empty line) if `bytes` holds a whole one, else -1.
 * `from` lets a caller resume the search where the previous one stopped.
 */
export function findHeadEnd(bytes: Uint8Array, from = 0): number {
  for (let i = Math.max(from, 1); i < bytes.length; i++) {
    if (bytes[i] !== LF) continue;
    // "\n\n" or "\n\r\n" (a lone LF line ending is tolerated, RFC 9112 §2.2).
    if (bytes[i - 1] === LF) return i + 1;
    if (bytes[i - 1] === CR && i >= 2 && bytes[i - 2] === LF) return i + 1;
  }
  return -1;
}

const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.([01])$/;
/** A Host value that cannot move the path: no "/", "?", "#", "@" or whitespace. */
const HOST = /^[A-Za-z0-9.\-_~!$&'()*+,;=:%[\]]+$/;
/** Control characters other than HTAB are not allowed in field values (RFC 9110 §5.5). */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
const latin1 = new TextDecoder("latin1");

/** Reads a whole head (as found by `findHeadEnd`); throws HttpError for anything unreadable. */
export function parseRequestHead(bytes: Uint8Array): RequestHead {
  const lines = latin1.decode(bytes).split(/\r?\n/);
  // Empty lines before the request line are to be ignored (RFC 9112 §2.2).
  while (lines.length > 0 && lines[0] === "") lines.shift();
  const requestLine = REQUEST_LINE.exec(lines[0] ?? "");
  if (!requestLine) throw new HttpError(400, "malformed request line");
  const [, method, target, minor] = requestLine as unknown as [string, string, string, string];
  // The methods a Fetch `Request` cannot carry (and a proxy's CONNECT).
  if (FORBIDDEN_METHODS.has(method.toUpperCase())) throw new HttpError(501, `method ${method} is not supported`);
  const headers = parseHeaderLines(lines.slice(1));
  const http11 = minor === "1";
  const connection = (headers.get("connection") ?? "").toLowerCase();
  return {
    method,
    url: requestUrl(target, headers, http11),
    headers,
    http11,
    keepAlive: http11 && !/(^|,)\s*close\s*(,|$)/.test(connection),
    body: bodyFraming(headers),
    expectContinue: http11 && (headers.get("expect") ?? "").toLowerCase() === "100-continue",
  };
}

function parseHeaderLines(lines: readonly string[]): Headers {
  const headers = new Headers();
  for (const line of lines) {
    if (line === "") continue;
    // Line folding is obsolete and a smuggling vector (RFC 9112 §5.2).
    if (line[0] === " " || line[0] === "\t") throw new HttpError(400, "folded header line");
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    if (colon <= 0 || !TOKEN.test(name)) throw new HttpError(400, "malformed header line");
    // Only spaces and tabs are whitespace around a value (RFC 9110 §5.5); anything else
    // a lenient parser would strip (VT, FF, NBSP, a bare CR) stays and is judged.
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (CONTROL.test(value)) throw new HttpError(400, `invalid value in header ${name}`);
    headers.append(name, value);
  }
  return headers;
}

function requestUrl(target: string, headers: Headers, http11: boolean): string {
  const host = headers.get("host");
  if (host !== null && (host.includes(",") || !HOST.test(host))) throw new HttpError(400, "invalid Host header");
  if (http11 && host === null) throw new HttpError(400, "missing Host header");
  // Absolute form (a proxy's request): the URL is the target itself (RFC 9112 §3.2.2).
  if (/^https?:\/\//i.test(target)) return checkedUrl(target);
  if (target[0] !== "/") throw new HttpError(400, "unsupported request target");
  return checkedUrl(`http://${host ?? "localhost"}${target}`);
}

function checkedUrl(text: string): string {
  try {
    return new URL(text).href;
  } catch {
    throw new HttpError(400, "invalid request target");
  }
}

function bodyFraming(headers: Headers): BodyFraming {
  const transferEncoding = headers.get("transfer-encoding");
  const contentLength = headers.get("content-length");
  if (transferEncoding !== null) {
    // Both at once is the classic smuggling shape: refuse rather than pick one.
    if (contentLength !== null) throw new HttpError(400, "both Transfer-Encoding and Content-Length");
    if (transferEncoding.toLowerCase() !== "chunked")
      throw new HttpError(501, `unsupported Transfer-Encoding: ${transferEncoding}`);
    return { kind: "chunked" };
  }
  if (contentLength === null) return { kind: "none" };
  // Repeated equal values are allowed (RFC 9110 §8.6); Headers joins them with ", ".
  const values = new Set(contentLength.split(",").map((v) => v.replace(/^[ \t]+|[ \t]+$/g, "")));
  const [only] = values;
  if (values.size !== 1 || !/^\d{1,15}$/.test(only!)) throw new HttpError(400, "invalid Content-Length");
  const length = Number(only);
  return length === 0 ? { kind: "none" } : { kind: "length", length };
}

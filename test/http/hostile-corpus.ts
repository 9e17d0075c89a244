/**
 * Hostile HTTP/1.1 requests, as raw bytes, for test/blackbox/hostile-http.test.ts. Each
 * case carries a hidden request (`GET /metrics`, whose answer is told apart by `# HELP`;
 * or a `POST /submit` whose event shows that it ran), placed where one reading of the
 * bytes makes it a request of its own and another makes it part of the case's body,
 * header or garbage:
 *
 * - `smuggle`: some reading of the bytes that a front proxy could make hides the request
 *   inside the first one (a body, a header, a chunk). A correct server either reads it
 *   that way too, or refuses the request and closes; it never answers the hidden request.
 * - `after-error`: the first request is malformed and the hidden one is pipelined after
 *   it. If the server refuses the first (anything but the app's own 200/404/405), it must
 *   close without answering the hidden one. A server may accept a harmless oddity (then
 *   the hidden request is ordinary pipelining and may be answered).
 * - `pipelined`: the first request is framed beyond doubt (no body; only its target, Host
 *   or method is odd), so the hidden one is ordinary pipelining whatever the first gets,
 *   a 400 included (node:http's URL check answers so and keeps the connection). It may
 *   be answered, but only second, after one answer to the first.
 *
 * Strings are bytes: every character is one latin1 byte.
 */

export type Expectation = "smuggle" | "after-error" | "pipelined";

export interface HostileCase {
  /** Unique, short, readable: the class and what is odd. */
  readonly id: string;
  readonly kind: HostileClass;
  readonly expect: Expectation;
  readonly bytes: string;
  /** A method that is GET in another case: it must not be served as GET (`/ping`'s `pong`). */
  readonly notServedAsGet?: boolean;
}

export const HOSTILE_CLASSES = [
  "bare LF/CR",
  "CL+TE",
  "Content-Length",
  "obfuscated TE",
  "chunk size",
  "chunk framing",
  "trailers",
  "obs-fold",
  "control bytes",
  "Host",
  "oversized",
  "method",
  "version",
  "request target",
  "pipelining after error",
] as const;
export type HostileClass = (typeof HOSTILE_CLASSES)[number];

/** A hidden request whose answer tells it apart: it must never be answered where it is hidden. */
export const HIDDEN_GET = "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n";
/** Found in the hidden request's answer, and in no other answer the server gives. */
export const HIDDEN_ANSWER_MARK = "# HELP";
/**
 * What the app itself answers the cases' first requests: `GET /ping` 200, `POST /ping`
 * 405 (a known path, another method), an unknown target 404.
 */
export const APP_STATUSES: readonly number[] = [200, 404, 405];

/**
 * The corpus, with `hidden` (a complete HTTP/1.1 request) placed in every case; each length
 * that frames it (a Content-Length, a chunk size) is computed from it.
 */
export function hostileCorpus(hidden: string): HostileCase[] {
  const cases: HostileCase[] = [];
  const add = (kind: HostileClass, expect: Expectation, id: string, bytes: string, extra: Partial<HostileCase> = {}) =>
    cases.push({ id: `${kind}: ${id}`, kind, expect, bytes, ...extra });

  /** A chunked body holding nothing, then the hidden request: read as chunked, it is the next request. */
  const chunkedThenHidden = `0\r\n\r\n${hidden}`;
  const chunkedPost = (headers: string) => `POST /ping HTTP/1.1\r\nHost: h\r\n${headers}\r\n`;
  /** `headers` + a Content-Length that makes the empty chunked body and the hidden request one body. */
  const withLengthOverChunked = (headers: string) =>
    `${chunkedPost(`${headers}Content-Length: ${chunkedThenHidden.length}\r\n`)}${chunkedThenHidden}`;
  const getPing = (headers = "Host: h\r\n", line = "GET /ping HTTP/1.1") => `${line}\r\n${headers}\r\n`;

  // Bare LF / bare CR: CRLF is the only line end here (a proxy that splits only on CRLF
  // reads these lines differently).
  for (const [name, end] of [["LF", "\n"], ["CR", "\r"]] as const) {
    add("bare LF/CR", "after-error", `${name} ends the request line`, `GET /ping HTTP/1.1${end}Host: h\r\n\r\n${hidden}`);
    add("bare LF/CR", "after-error", `${name} inside the request line`, `GET /ping${end}HTTP/1.1\r\nHost: h\r\n\r\n${hidden}`);
    add("bare LF/CR", "after-error", `${name} ends a header line`, `GET /ping HTTP/1.1\r\nHost: h${end}X-A: b\r\n\r\n${hidden}`);
    add("bare LF/CR", "after-error", `${name} ends the head`, `GET /ping HTTP/1.1\r\nHost: h\r\n${end}${hidden}`);
    add("bare LF/CR", "after-error", `${name}${name} ends the head`, `GET /ping HTTP/1.1${end}Host: h${end}${end}${hidden}`);
    add("bare LF/CR", "after-error", `${name} inside a header value`, `GET /ping HTTP/1.1\r\nHost: h\r\nX-A: a${end}b\r\n\r\n${hidden}`);
    // The issue's case: a proxy sees one header `X-A` and no body; split on the bare line
    // end, a `Transfer-Encoding: chunked` appears and a chunked body ends before the hidden request.
    add("bare LF/CR", "smuggle", `${name} hides Transfer-Encoding`, `${chunkedPost(`X-A: a${end}Transfer-Encoding: chunked\r\n`)}${chunkedThenHidden}`);
    add("bare LF/CR", "smuggle", `${name} hides Transfer-Encoding under a Content-Length`, withLengthOverChunked(`X-A: a${end}Transfer-Encoding: chunked\r\n`));
    add("bare LF/CR", "smuggle", `${name} hides Transfer-Encoding, chunked first`, `${chunkedPost(`Transfer-Encoding: chunked${end}X-A: a\r\n`)}${chunkedThenHidden}`);
    add("bare LF/CR", "after-error", `${name} ends a chunk size`, `${chunkedPost("Transfer-Encoding: chunked\r\n")}5${end}hello\r\n0\r\n\r\n${hidden}`);
    add("bare LF/CR", "after-error", `${name} ends chunk data`, `${chunkedPost("Transfer-Encoding: chunked\r\n")}5\r\nhello${end}0\r\n\r\n${hidden}`);
    add("bare LF/CR", "after-error", `${name} ends the last chunk`, `${chunkedPost("Transfer-Encoding: chunked\r\n")}0${end}\r\n${hidden}`);
    add("bare LF/CR", "after-error", `${name} ends the chunked body`, `${chunkedPost("Transfer-Encoding: chunked\r\n")}0\r\n${end}${hidden}`);
    add("bare LF/CR", "after-error", `${name} ends a trailer line`, `${chunkedPost("Transfer-Encoding: chunked\r\n")}0\r\nX-T: a${end}\r\n${hidden}`);
  }

  // Content-Length and Transfer-Encoding together: read by length, the hidden request is
  // body; read as chunked, it follows. RFC 9112 §6.1: refuse, or read chunked and close.
  add("CL+TE", "smuggle", "CL then TE", withLengthOverChunked("Transfer-Encoding: chunked\r\n"));
  add("CL+TE", "smuggle", "TE then CL", `${chunkedPost(`Transfer-Encoding: chunked\r\nContent-Length: ${chunkedThenHidden.length}\r\n`)}${chunkedThenHidden}`);
  add("CL+TE", "smuggle", "CL 0 then TE", `${chunkedPost("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n")}${chunkedThenHidden}`);
  add("CL+TE", "smuggle", "TE then CL 0", `${chunkedPost("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n")}${chunkedThenHidden}`);
  add("CL+TE", "smuggle", "CL too short for the chunked body", `${chunkedPost("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n")}${chunkedThenHidden}`);
  add("CL+TE", "smuggle", "GET with CL and TE", `GET /ping HTTP/1.1\r\nHost: h\r\nContent-Length: ${chunkedThenHidden.length}\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedThenHidden}`);
  add("CL+TE", "smuggle", "HTTP/1.0 with CL and TE", `POST /ping HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\nContent-Length: ${chunkedThenHidden.length}\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedThenHidden}`);
  add("CL+TE", "smuggle", "TE between two CLs", `${chunkedPost(`Content-Length: ${chunkedThenHidden.length}\r\nTransfer-Encoding: chunked\r\nContent-Length: ${chunkedThenHidden.length}\r\n`)}${chunkedThenHidden}`);
  add("CL+TE", "smuggle", "CL and TE with Expect: 100-continue", withLengthOverChunked("Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n"));
  add("CL+TE", "smuggle", "CL and TE, keep-alive asked for", withLengthOverChunked("Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n"));

  // Content-Length: read as the proxy might (the hidden request is the body), or refused.
  // Ignoring a bad length (no body) would answer the hidden request.
  const withLength = (lengthHeaders: string) => `${chunkedPost(lengthHeaders)}${hidden}`;
  const n = hidden.length;
  add("Content-Length", "smuggle", "0 then n", withLength(`Content-Length: 0\r\nContent-Length: ${n}\r\n`));
  add("Content-Length", "smuggle", "n then 0", withLength(`Content-Length: ${n}\r\nContent-Length: 0\r\n`));
  add("Content-Length", "smuggle", "list 0, n", withLength(`Content-Length: 0, ${n}\r\n`));
  add("Content-Length", "smuggle", "list n, 0", withLength(`Content-Length: ${n}, 0\r\n`));
  add("Content-Length", "smuggle", "plus sign", withLength(`Content-Length: +${n}\r\n`));
  add("Content-Length", "smuggle", "minus sign", withLength(`Content-Length: -${n}\r\n`));
  add("Content-Length", "smuggle", "hex", withLength(`Content-Length: 0x${n.toString(16)}\r\n`));
  add("Content-Length", "smuggle", "decimal point", withLength(`Content-Length: ${n}.0\r\n`));
  add("Content-Length", "smuggle", "exponent", withLength(`Content-Length: ${n}e0\r\n`));
  add("Content-Length", "smuggle", "trailing garbage", withLength(`Content-Length: ${n}abc\r\n`));
  add("Content-Length", "smuggle", "space inside", withLength(`Content-Length: ${String(n)[0]} ${String(n).slice(1)}\r\n`));
  add("Content-Length", "smuggle", "empty", withLength("Content-Length: \r\n"));
  add("Content-Length", "smuggle", "overflowing 2^64 + n", withLength(`Content-Length: ${(2n ** 64n + BigInt(n)).toString()}\r\n`));
  add("Content-Length", "smuggle", "20 nines", withLength("Content-Length: 99999999999999999999\r\n"));
  add("Content-Length", "smuggle", "space before the colon", withLength(`Content-Length : ${n}\r\n`));
  add("Content-Length", "smuggle", "tab before the colon", withLength(`Content-Length\t: ${n}\r\n`));
  add("Content-Length", "smuggle", "NUL after the digits", withLength(`Content-Length: ${n}\x00\r\n`));
  add("Content-Length", "smuggle", "vertical tab before the digits", withLength(`Content-Length:\x0b${n}\r\n`));
  // Content_Length is another header: read right, the body is empty and the hidden request follows.
  add("Content-Length", "after-error", "underscore in the name", withLength(`Content_Length: ${n}\r\nContent-Length: 0\r\n`));

  // Obfuscated Transfer-Encoding, with a Content-Length that makes the rest one body: a
  // server that takes the obfuscated coding as chunked must refuse or close, never answer.
  const te = (id: string, header: string) => add("obfuscated TE", "smuggle", id, withLengthOverChunked(header));
  te("xchunked", "Transfer-Encoding: xchunked\r\n");
  te("chunkedx", "Transfer-Encoding: chunkedx\r\n");
  te("chunk", "Transfer-Encoding: chunk\r\n");
  te("leading space in the value", "Transfer-Encoding:  chunked\r\n");
  te("trailing space in the value", "Transfer-Encoding: chunked \r\n");
  te("tab before the value", "Transfer-Encoding:\tchunked\r\n");
  te("chunked, identity", "Transfer-Encoding: chunked, identity\r\n");
  te("identity, chunked", "Transfer-Encoding: identity, chunked\r\n");
  te("chunked, chunked", "Transfer-Encoding: chunked, chunked\r\n");
  te("gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n");
  te("upper case value", "Transfer-Encoding: CHUNKED\r\n");
  te("mixed case value", "Transfer-Encoding: cHuNkEd\r\n");
  te("upper case name", "TRANSFER-ENCODING: chunked\r\n");
  te("quoted", 'Transfer-Encoding: "chunked"\r\n');
  te("parameter", "Transfer-Encoding: chunked;q=1\r\n");
  te("NUL after", "Transfer-Encoding: chunked\x00\r\n");
  te("vertical tab after", "Transfer-Encoding: chunked\x0b\r\n");
  te("empty value", "Transfer-Encoding: \r\n");
  te("space before the colon", "Transfer-Encoding : chunked\r\n");
  te("tab before the colon", "Transfer-Encoding\t: chunked\r\n");
  te("underscore in the name", "Transfer_Encoding: chunked\r\n");
  te("folded value", "Transfer-Encoding:\r\n chunked\r\n");
  te("folded onto another header", "X-A: a\r\n Transfer-Encoding: chunked\r\n");
  te("chunked then identity headers", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n");
  te("identity then chunked headers", "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n");
  te("chunked twice", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n");
  te("comma only", "Transfer-Encoding: ,chunked\r\n");
  te("non-ASCII lookalike", "Transfer-Encoding: chunk\xe9d\r\n");
  add("obfuscated TE", "smuggle", "TE on HTTP/1.0", `POST /ping HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedThenHidden}`);
  add("obfuscated TE", "smuggle", "TE on HTTP/1.0 under a Content-Length", `POST /ping HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: ${chunkedThenHidden.length}\r\n\r\n${chunkedThenHidden}`);
  // Without a Content-Length: an unknown final coding must not be read as chunked.
  for (const value of ["xchunked", "chunked, identity", "identity"]) {
    add("obfuscated TE", "smuggle", `${value} without a length`, `${chunkedPost(`Transfer-Encoding: ${value}\r\n`)}${chunkedThenHidden}`);
  }

  // Chunk sizes: a size read leniently as 0 ends the body, and the hidden request after it
  // would be answered; refused or read as the large number it is, it is not.
  const chunkSize = (id: string, sizeLine: string, expect: Expectation = "smuggle") =>
    add("chunk size", expect, id, `${chunkedPost("Transfer-Encoding: chunked\r\n")}${sizeLine}\r\n\r\n${hidden}`);
  chunkSize("2^64 (wraps to 0)", "10000000000000000");
  chunkSize("2^64 with leading zeros", `000${"1".padEnd(17, "0")}`);
  chunkSize("2^128", `1${"0".repeat(32)}`);
  chunkSize("negative", "-1");
  chunkSize("minus zero", "-0");
  chunkSize("plus zero", "+0");
  chunkSize("0x prefix", "0x0");
  chunkSize("0x alone", "0x");
  chunkSize("x alone", "x");
  chunkSize("empty", "");
  chunkSize("leading space", " 0");
  chunkSize("leading tab", "\t0");
  chunkSize("underscore", "0_0");
  chunkSize("NUL after", "0\x00");
  chunkSize("vertical tab after", "0\x0b");
  // The size is 0 whatever its extension says: read leniently, the body ends there and the
  // hidden request is ordinary pipelining; a bad extension may also be refused.
  chunkSize("extension with NUL", "0;a=\x00", "after-error");
  chunkSize("extension with DEL", "0;a\x7f", "after-error");
  chunkSize("extension with an unterminated quote", '0;a="b', "after-error");
  chunkSize("extension name missing", "0;", "after-error");
  chunkSize("Arabic-Indic zero (UTF-8)", "\xd9\xa0");
  // Read as the 4 GiB it is, the size swallows the rest: never answered either way.
  chunkSize("2^32", "100000000");
  chunkSize("2^63 - 1", "7fffffffffffffff");

  // Chunk framing: data that overruns or underruns its size, missing CRLFs.
  const chunked = (id: string, body: string) =>
    add("chunk framing", "after-error", id, `${chunkedPost("Transfer-Encoding: chunked\r\n")}${body}${hidden}`);
  chunked("data longer than its size", "3\r\nhello\r\n0\r\n\r\n");
  chunked("data shorter than its size", "7\r\nhello\r\n0\r\n\r\n");
  chunked("no CRLF after the data", "5\r\nhello0\r\n\r\n");
  chunked("size line without CRLF", "5hello\r\n0\r\n\r\n");
  chunked("trailing space after the size", "5 \r\nhello\r\n0\r\n\r\n");
  // Complete with its last chunk: whatever follows it is a request of its own.
  add("chunk framing", "smuggle", "hidden request as chunk data, size exact", `${chunkedPost("Transfer-Encoding: chunked\r\n")}${hidden.length.toString(16)}\r\n${hidden}\r\n0\r\n\r\n`);

  // Trailers: a trailer section is header lines, then an empty line; never a request.
  const trailers = (id: string, section: string) =>
    add("trailers", "after-error", id, `${chunkedPost("Transfer-Encoding: chunked\r\n")}0\r\n${section}${hidden}`);
  trailers("the next request read as trailers", "");
  trailers("a request line as a trailer", "GET /ping HTTP/1.1\r\n\r\n");
  trailers("no colon", "X-T\r\n\r\n");
  trailers("space before the colon", "X-T : a\r\n\r\n");
  trailers("NUL in a value", "X-T: a\x00b\r\n\r\n");
  trailers("folded trailer", "X-T: a\r\n b\r\n\r\n");
  trailers("Content-Length injected", "Content-Length: 5\r\n\r\n");
  trailers("Transfer-Encoding injected", "Transfer-Encoding: chunked\r\n\r\n");
  trailers("Host injected", "Host: evil\r\n\r\n");
  trailers("11,000 trailer lines", `${"t:\r\n".repeat(11_000)}\r\n`);

  // Obs-fold (a header line starting with SP or HTAB): refused, or unfolded into one value.
  const folded = (id: string, headers: string) => add("obs-fold", "after-error", id, `${getPing(`Host: h\r\n${headers}`)}${hidden}`);
  folded("space", "X-A: a\r\n b\r\n");
  folded("tab", "X-A: a\r\n\tb\r\n");
  folded("several lines", "X-A: a\r\n b\r\n c\r\n\td\r\n");
  folded("empty first line", "X-A:\r\n b\r\n");
  add("obs-fold", "after-error", "first header folded onto the request line", `GET /ping HTTP/1.1\r\n Host: h\r\n\r\n${hidden}`);
  add("obs-fold", "smuggle", "Content-Length folded onto another header", `${chunkedPost(`X-A: a\r\n Content-Length: 0\r\nContent-Length: ${n}\r\n`)}${hidden}`);
  add("obs-fold", "after-error", "Host folded", `GET /ping HTTP/1.1\r\nHost:\r\n h\r\n\r\n${hidden}`);

  // Control bytes where no control byte may be.
  for (const [name, byte] of [["NUL", "\x00"], ["SOH", "\x01"], ["DEL", "\x7f"], ["ESC", "\x1b"]] as const) {
    add("control bytes", "after-error", `${name} in a header name`, `${getPing(`Host: h\r\nX-${byte}A: a\r\n`)}${hidden}`);
    add("control bytes", "after-error", `${name} in a header value`, `${getPing(`Host: h\r\nX-A: a${byte}b\r\n`)}${hidden}`);
    add("control bytes", "after-error", `${name} in the path`, `${getPing("Host: h\r\n", `GET /pi${byte}ng HTTP/1.1`)}${hidden}`);
    add("control bytes", "after-error", `${name} in the query`, `${getPing("Host: h\r\n", `GET /ping?a=${byte} HTTP/1.1`)}${hidden}`);
    add("control bytes", "after-error", `${name} in the method`, `${getPing("Host: h\r\n", `G${byte}ET /ping HTTP/1.1`)}${hidden}`);
  }
  add("control bytes", "after-error", "NUL before the request", `\x00${getPing()}${hidden}`);
  add("control bytes", "after-error", "form feed in a header value", `${getPing("Host: h\r\nX-A: a\x0cb\r\n")}${hidden}`);
  add("control bytes", "after-error", "NUL in the Host", `${getPing("Host: h\x00evil\r\n")}${hidden}`);

  // Host: the framing is beyond doubt whatever the Host says.
  add("Host", "pipelined", "missing on HTTP/1.1", `${getPing("")}${hidden}`);
  add("Host", "pipelined", "twice, different", `${getPing("Host: a\r\nHost: b\r\n")}${hidden}`);
  add("Host", "pipelined", "twice, same", `${getPing("Host: a\r\nHost: a\r\n")}${hidden}`);
  add("Host", "pipelined", "a list", `${getPing("Host: a, b\r\n")}${hidden}`);
  add("Host", "pipelined", "space inside", `${getPing("Host: a b\r\n")}${hidden}`);
  add("Host", "pipelined", "space before the colon", `${getPing("Host : a\r\n")}${hidden}`);
  add("Host", "pipelined", "userinfo", `${getPing("Host: user@a\r\n")}${hidden}`);
  add("Host", "pipelined", "a path", `${getPing("Host: a/b\r\n")}${hidden}`);
  add("Host", "pipelined", "a backslash", `${getPing("Host: a\\b\r\n")}${hidden}`);
  add("Host", "pipelined", "port out of range", `${getPing("Host: a:99999\r\n")}${hidden}`);
  add("Host", "pipelined", "port not a number", `${getPing("Host: a:b\r\n")}${hidden}`);
  add("Host", "pipelined", "absolute-form target with another Host", `${getPing("Host: b\r\n", "GET http://a/ping HTTP/1.1")}${hidden}`);

  // Oversized heads.
  add("oversized", "after-error", "request line of 100 KB", `${getPing("Host: h\r\n", `GET /ping?${"a".repeat(100_000)} HTTP/1.1`)}${hidden}`);
  add("oversized", "after-error", "header value of 100 KB", `${getPing(`Host: h\r\nX-A: ${"a".repeat(100_000)}\r\n`)}${hidden}`);
  add("oversized", "after-error", "header name of 100 KB", `${getPing(`Host: h\r\nX${"a".repeat(100_000)}: a\r\n`)}${hidden}`);
  add("oversized", "after-error", "method of 100 KB", `${getPing("Host: h\r\n", `${"G".repeat(100_000)} /ping HTTP/1.1`)}${hidden}`);
  add("oversized", "after-error", "11,000 tiny headers (64 KiB)", `${getPing(`Host: h\r\n${"a:\r\n".repeat(11_000)}`)}${hidden}`);
  add("oversized", "after-error", "2,000 tiny headers", `${getPing(`Host: h\r\n${"a:\r\n".repeat(2_000)}`)}${hidden}`);
  add("oversized", "after-error", "150 headers", `${getPing(`Host: h\r\n${Array.from({ length: 150 }, (_, i) => `x-${i}: v\r\n`).join("")}`)}${hidden}`);
  add("oversized", "after-error", "1 MB head", `${getPing(`Host: h\r\n${`X-A: ${"a".repeat(1000)}\r\n`.repeat(1000)}`)}${hidden}`);

  // Methods are case-sensitive tokens.
  // A request line with one method token, a target and a version is framed beyond doubt.
  for (const method of ["get", "Get", "gET", "post", "head", "FOO"]) {
    add("method", "pipelined", JSON.stringify(method), `${getPing("Host: h\r\n", `${method} /ping HTTP/1.1`)}${hidden}`, {
      notServedAsGet: method.toUpperCase() === "GET",
    });
  }
  for (const method of ["G ET", "GET\t", "(GET)", "GE\xc9T"]) {
    add("method", "after-error", JSON.stringify(method), `${getPing("Host: h\r\n", `${method} /ping HTTP/1.1`)}${hidden}`);
  }
  add("method", "after-error", "no method", `${getPing("Host: h\r\n", " /ping HTTP/1.1")}${hidden}`);
  add("method", "after-error", "two spaces after the method", `${getPing("Host: h\r\n", "GET  /ping HTTP/1.1")}${hidden}`);
  add("method", "pipelined", "CONNECT", `${getPing("Host: h:1\r\n", "CONNECT h:1 HTTP/1.1")}${hidden}`);

  // HTTP versions.
  for (const version of ["HTTP/1.2", "HTTP/2.0", "HTTP/3.0", "HTTP/9.9", "http/1.1", "HTTP/1.01", "HTTP/01.1", "HTTP/1", "HTTP/1.1x", "HTTP/11.1", "HTTP/1.1 ", "HTTP/1.\x00", "HTTP /1.1", "HTTPS/1.1"]) {
    add("version", "after-error", JSON.stringify(version), `${getPing("Host: h\r\n", `GET /ping ${version}`)}${hidden}`);
  }
  add("request target", "after-error", "a space inside", `${getPing("Host: h\r\n", "GET /ping?a b HTTP/1.1")}${hidden}`);
  add("version", "after-error", "none (HTTP/0.9)", `GET /ping\r\n\r\n${hidden}`);
  add("version", "after-error", "HTTP/2 preface", `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n${hidden}`);

  // Request targets: odd, but one token; the framing is beyond doubt.
  for (const target of ["ping", "*", "//ping", "/ping#frag", "/ping\\..", "/%00", "/%", "http://h:99999/ping", "/ping?a=\xff"]) {
    add("request target", "pipelined", JSON.stringify(target), `${getPing("Host: h\r\n", `GET ${target} HTTP/1.1`)}${hidden}`);
  }

  // Pipelining after an error: the request after a refusal is never answered.
  for (const [id, first] of [
    ["garbage", "HELLO\r\n\r\n"],
    ["binary junk", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"],
    ["a lone method", "GET\r\n\r\n"],
    ["a bad Content-Length on GET", "GET /ping HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n"],
    ["an unknown transfer coding", "POST /ping HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: br\r\n\r\n"],
    ["a bad chunk size", "POST /ping HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
    ["a header without a colon", "GET /ping HTTP/1.1\r\nHost: h\r\nX-A\r\n\r\n"],
    ["a header with an empty name", "GET /ping HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n"],
    ["an over-long request line", `GET /${"a".repeat(70_000)} HTTP/1.1\r\nHost: h\r\n\r\n`],
    ["two errors in a row", "HELLO\r\n\r\nHELLO\r\n\r\n"],
  ] as const) {
    add("pipelining after error", "after-error", id, `${first}${hidden}`);
  }
  add("pipelining after error", "after-error", "a good request, a bad one, the hidden one", `${getPing()}HELLO\r\n\r\n${hidden}`);

  return cases;
}

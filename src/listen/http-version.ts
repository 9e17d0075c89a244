/**
 * Which HTTP version a browser would get from a URL, for `sse-server doctor`: fetch does
 * not tell, so this opens a raw socket (node:tls, node:net; Bun, Deno and Node all have
 * them). Over TLS, the protocol the server picks by ALPN from the two a browser offers;
 * over plain http, the version of a status line (browsers speak HTTP/2 only over TLS).
 */
import net from "node:net";
import tls from "node:tls";
import type { HttpVersionSeen } from "../doctor.ts";

const FIRST_LINE = /^HTTP\/(\d(?:\.\d)?) /;

/** Rejects after `timeoutMs`, or when the socket fails or closes without an answer. */
export function probeHttpVersion(url: URL, timeoutMs = 5000): Promise<HttpVersionSeen> {
  const secure = url.protocol === "https:";
  const host = url.hostname.replace(/^\[|\]$/g, ""); // an IPv6 literal without its brackets
  const port = Number(url.port) || (secure ? 443 : 80);
  return new Promise((resolve, reject) => {
    let socket: net.Socket;
    const done = (error: Error | undefined, seen?: HttpVersionSeen) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(seen!);
    };
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    if (secure) {
      // Only the handshake is looked at: no request is sent, so the certificate is the
      // stream's own check (its fetch fails on a bad one), not this probe's.
      socket = tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ["h2", "http/1.1"], rejectUnauthorized: false }, () => {
        const chosen = (socket as tls.TLSSocket).alpnProtocol;
        done(undefined, { version: chosen === "h2" ? "HTTP/2" : "HTTP/1.1", by: chosen ? "TLS ALPN" : "TLS, no ALPN", tls: true });
      });
    } else {
      socket = net.connect({ host, port }, () => {
        const path = `${url.pathname.replace(/\/*$/, "/")}ping`;
        socket.write(`HEAD ${path} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
      });
      let head = "";
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => {
        head += chunk;
        const match = FIRST_LINE.exec(head);
        if (match) done(undefined, { version: `HTTP/${match[1]}`, by: "status line", tls: false });
        else if (head.includes("\n") || head.length > 64) done(new Error(`not an HTTP answer: ${JSON.stringify(head.slice(0, 32))}`));
      });
    }
    socket.on("error", (error) => done(error));
    socket.on("close", () => done(new Error("closed without an answer")));
  });
}

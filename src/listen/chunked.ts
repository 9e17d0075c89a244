/**
 * HTTP/1.1 chunked framing of a response body (RFC 9112 §7.1), for the event streams
 * src/listen/node.ts writes straight to the socket after node:http sent the head.
 */
const encoder = new TextEncoder();

/** The last chunk of a chunked body (no trailers). */
export const LAST_CHUNK = encoder.encode("0\r\n\r\n");

/**
 * An event's frame is one Uint8Array shared by every subscriber, so its chunk is built
 * once and shared too: the cache holds it as long as the frame lives.
 */
const framedChunks = new WeakMap<Uint8Array, Uint8Array>();

/** `bytes` as one chunk: its size in hex, CRLF, the bytes, CRLF. */
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

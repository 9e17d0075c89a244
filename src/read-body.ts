/**
 * Reads a request body as text within a size limit. Unlike Hono's `bodyLimit`, a body
 * that cannot be read to its end (the client aborted the upload, or sent a broken
 * chunked encoding) is the client's fault and says so, instead of surfacing as a 500.
 */
export class BodyTooLarge extends Error {}
export class BodyUnreadable extends Error {}

/**
 * A body of a declared length within the limit is read whole by the runtime, with no
 * ReadableStream made for it (on Bun that stream cost a fifth of the server's CPU per small
 * submission: BENCHMARKS.md, "Submitting"): the server reads exactly the declared bytes.
 * It is still counted, as a Request made in process need not keep to its header. Not an
 * async function: each would cost the caller a turn of the microtask queue.
 */
export function readBodyText(request: Request, maxBytes: number): Promise<string> {
  const declared = request.headers.get("content-length");
  if (declared === null) return readStreamed(request, maxBytes);
  if (Number(declared) > maxBytes) return Promise.reject(tooLarge(maxBytes));
  return request.arrayBuffer().then(
    (bytes) => {
      if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes);
      return decoder.decode(bytes);
    },
    (error: unknown) => {
      throw unreadable(error);
    },
  );
}

/** A body of no declared length (chunked): counted as it arrives, refused once past the limit. */
async function readStreamed(request: Request, maxBytes: number): Promise<string> {
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let next: Awaited<ReturnType<typeof reader.read>>;
    try {
      next = await reader.read();
    } catch (error) {
      throw unreadable(error);
    }
    if (next.done) break;
    size += next.value.length;
    if (size > maxBytes) {
      void reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(next.value);
  }
  return decodeUtf8(chunks, size);
}

const tooLarge = (maxBytes: number) => new BodyTooLarge(`body is larger than ${maxBytes} bytes`);
const unreadable = (error: unknown) =>
  new BodyUnreadable(`request body could not be read: ${error instanceof Error ? error.message : String(error)}`);

const decoder = new TextDecoder();

function decodeUtf8(chunks: readonly Uint8Array[], size: number): string {
  if (chunks.length === 1) return decoder.decode(chunks[0]);
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.length;
  }
  return decoder.decode(joined);
}

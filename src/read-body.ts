/**
 * Reads a request body as text within a size limit. Unlike Hono's `bodyLimit`, a body
 * that cannot be read to its end (the client aborted the upload, or sent a broken
 * chunked encoding) is the client's fault and says so, instead of surfacing as a 500.
 */
export class BodyTooLarge extends Error {}
export class BodyUnreadable extends Error {}

export async function readBodyText(request: Request, maxBytes: number): Promise<string> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw new BodyTooLarge(`body is larger than ${maxBytes} bytes`);
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let next: Awaited<ReturnType<typeof reader.read>>;
    try {
      next = await reader.read();
    } catch (error) {
      throw new BodyUnreadable(`request body could not be read: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (next.done) break;
    size += next.value.length;
    if (size > maxBytes) {
      void reader.cancel().catch(() => {});
      throw new BodyTooLarge(`body is larger than ${maxBytes} bytes`);
    }
    chunks.push(next.value);
  }
  return decodeUtf8(chunks, size);
}

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

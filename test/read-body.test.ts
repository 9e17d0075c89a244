import { describe, expect, test } from "bun:test";
import { BodyTooLarge, BodyUnreadable, readBodyText } from "../src/read-body.ts";

const streamOf = (...chunks: (Uint8Array | Error)[]) =>
  new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next === undefined) controller.close();
      else if (next instanceof Error) controller.error(next);
      else controller.enqueue(next);
    },
  });
const post = (body: BodyInit | null, headers: Record<string, string> = {}) =>
  new Request("http://a/submit", { method: "POST", body, headers, duplex: "half" } as RequestInit);

describe("readBodyText", () => {
  test("joins chunks before decoding, so a character split between them survives", async () => {
    const bytes = new TextEncoder().encode("héllo");
    expect(await readBodyText(post(streamOf(bytes.subarray(0, 2), bytes.subarray(2))), 100)).toBe("héllo");
    expect(await readBodyText(post(null), 100)).toBe("");
  });

  test("too large: by Content-Length before reading, or by counting a streamed body", async () => {
    await expect(readBodyText(post("x".repeat(11)), 10)).rejects.toBeInstanceOf(BodyTooLarge);
    const streamed = post(streamOf(new Uint8Array(6), new Uint8Array(6)));
    expect(streamed.headers.has("content-length")).toBe(false);
    await expect(readBodyText(streamed, 10)).rejects.toBeInstanceOf(BodyTooLarge);
    expect(await readBodyText(post("x".repeat(10)), 10)).toBe("x".repeat(10));
  });

  test("a body of a declared length is read whole, and still counted against the limit", async () => {
    const declared = (body: BodyInit, length: number) => post(body, { "content-length": String(length) });
    expect(await readBodyText(declared("héllo", 6), 10)).toBe("héllo");
    // A Request made in process may declare less than it carries.
    await expect(readBodyText(declared("x".repeat(11), 5), 10)).rejects.toBeInstanceOf(BodyTooLarge);
    // Declared over the limit: refused before anything is read.
    const unread = declared(streamOf(new Uint8Array(11)), 11);
    await expect(readBodyText(unread, 10)).rejects.toBeInstanceOf(BodyTooLarge);
    expect(unread.bodyUsed).toBe(false);
    await expect(readBodyText(declared(streamOf(new Uint8Array(3), new Error("aborted")), 10), 100)).rejects.toBeInstanceOf(
      BodyUnreadable,
    );
  });

  test("a body that fails mid-way (an aborted upload) is the client's error", async () => {
    const failing = post(streamOf(new Uint8Array(3), new Error("aborted")));
    await expect(readBodyText(failing, 100)).rejects.toBeInstanceOf(BodyUnreadable);
  });
});

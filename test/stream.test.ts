import { describe, expect, test } from "bun:test";
import {
  CLAIMING_SERVER,
  claimableStream,
  eventStreamResponse,
  streamingResponse,
  SubscriberStream,
  type EndReason,
  type FrameWriter,
} from "../src/stream.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const frame = (text: string): Uint8Array => encoder.encode(text);

/** A stream with its ends recorded. */
function subscriberStream(maxBuffered = 10) {
  const ends: EndReason[] = [];
  const stream = new SubscriberStream(frame(": ok\n\n"), maxBuffered, (reason) => ends.push(reason));
  return { stream, ends };
}

/** A writer that records frames and calls, reporting `waiting` frames unsent after each write. */
class RecordingWriter implements FrameWriter {
  readonly frames: string[] = [];
  readonly calls: string[] = [];
  waiting = 0;
  write(bytes: Uint8Array): number {
    this.frames.push(decoder.decode(bytes));
    return this.waiting;
  }
  end(): void {
    this.calls.push("end");
  }
  abort(): void {
    this.calls.push("abort");
  }
}

async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(decoder.decode((await reader.read()).value));
  return out;
}

describe("SubscriberStream read as a ReadableStream", () => {
  test("opening, replay and live frames come out in order", async () => {
    const { stream } = subscriberStream();
    stream.replay([frame("id: 1\n\n"), frame("id: 2\n\n")]);
    stream.push(frame("id: 3\n\n"));
    expect(await readAll(stream.body.getReader(), 4)).toEqual([": ok\n\n", "id: 1\n\n", "id: 2\n\n", "id: 3\n\n"]);
  });

  test("more than maxBuffered unread frames errors the stream (slow), never skips one", async () => {
    const { stream, ends } = subscriberStream(2);
    const reader = stream.body.getReader();
    expect(await readAll(reader, 1)).toEqual([": ok\n\n"]);
    for (let i = 0; i < 3; i++) stream.push(frame(`data: ${i}\n\n`));
    expect(ends).toEqual(["slow"]);
    await expect(reader.read()).rejects.toThrow("subscriber too slow");
  });

  test("end closes after what is queued; cancel ends it as the client's", async () => {
    const ended = subscriberStream();
    ended.stream.push(frame("data: last\n\n"));
    ended.stream.end();
    const reader = ended.stream.body.getReader();
    expect(await readAll(reader, 2)).toEqual([": ok\n\n", "data: last\n\n"]);
    expect((await reader.read()).done).toBe(true);
    expect(ended.ends).toEqual(["server"]);

    const cancelled = subscriberStream();
    await cancelled.stream.body.cancel();
    expect(cancelled.ends).toEqual(["client"]);
  });

  test("too many frames before the body is made end the stream (slow); the body made later errors", async () => {
    const { stream, ends } = subscriberStream(2);
    for (let i = 0; i < 3; i++) stream.push(frame(`data: ${i}\n\n`));
    expect(ends).toEqual(["slow"]);
    await expect(stream.body.getReader().read()).rejects.toThrow("subscriber too slow");
  });
});

describe("SubscriberStream claimed by a frame writer", () => {
  test("gets what was queued before the claim, in order, then each push at once", () => {
    const { stream } = subscriberStream();
    stream.replay([frame("id: 1\n\n")]);
    stream.push(frame("id: 2\n\n"));
    const writer = new RecordingWriter();
    expect(stream.claim(writer)).toBeDefined();
    expect(writer.frames).toEqual([": ok\n\n", "id: 1\n\n", "id: 2\n\n"]);
    stream.push(frame("id: 3\n\n"));
    expect(writer.frames.at(-1)).toBe("id: 3\n\n");
    expect(() => stream.body).toThrow("claimed");
  });

  test("cannot be claimed once its body is being read, nor twice, nor after it ended", () => {
    const read = subscriberStream();
    read.stream.body.getReader();
    expect(read.stream.claim(new RecordingWriter())).toBeUndefined();

    const twice = subscriberStream();
    expect(twice.stream.claim(new RecordingWriter())).toBeDefined();
    expect(twice.stream.claim(new RecordingWriter())).toBeUndefined();

    const ended = subscriberStream();
    ended.stream.end();
    expect(ended.stream.claim(new RecordingWriter())).toBeUndefined();
  });

  test("a writer with more than maxBuffered frames waiting is aborted (slow)", () => {
    const { stream, ends } = subscriberStream(2);
    const writer = new RecordingWriter();
    stream.claim(writer);
    writer.waiting = 2;
    stream.push(frame("data: a\n\n"));
    expect(ends).toEqual([]);
    writer.waiting = 3;
    stream.push(frame("data: b\n\n"));
    expect(writer.calls).toEqual(["abort"]);
    expect(ends).toEqual(["slow"]);
    stream.push(frame("data: c\n\n"));
    expect(writer.frames).not.toContain("data: c\n\n");
  });

  test("end ends the writer (server); clientGone ends the stream once, and nothing is written after", () => {
    const ended = subscriberStream();
    const endWriter = new RecordingWriter();
    ended.stream.claim(endWriter);
    ended.stream.end();
    expect(endWriter.calls).toEqual(["end"]);
    expect(ended.ends).toEqual(["server"]);

    const gone = subscriberStream();
    const goneWriter = new RecordingWriter();
    const claimed = gone.stream.claim(goneWriter)!;
    claimed.clientGone();
    claimed.clientGone();
    gone.stream.push(frame("data: late\n\n"));
    gone.stream.end();
    expect(gone.ends).toEqual(["client"]);
    expect(goneWriter.frames).toEqual([": ok\n\n"]);
    expect(goneWriter.calls).toEqual([]);
  });

  test("a stream that is claimed never makes a ReadableStream", () => {
    const made = countReadableStreams(() => {
      const { stream } = subscriberStream();
      stream.push(frame("data: 1\n\n"));
      stream.claim(new RecordingWriter());
      stream.push(frame("data: 2\n\n"));
      stream.end();
    });
    expect(made).toBe(0);
  });
});

describe("eventStreamResponse", () => {
  const headers = { "Content-Type": "text/event-stream" };

  test("for a claiming server: a bodiless 200 whose stream the server can find", () => {
    const { stream } = subscriberStream();
    const response = eventStreamResponse(stream, headers, CLAIMING_SERVER);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(response.body).toBeNull();
    expect(claimableStream(response)).toEqual({ headers, stream });
    expect(claimableStream(new Response("x"))).toBeUndefined();
  });

  test("for a claiming server that cannot claim: streamingResponse has every frame as its body", async () => {
    const { stream } = subscriberStream();
    const claimable = claimableStream(eventStreamResponse(stream, headers, CLAIMING_SERVER))!;
    stream.push(frame("data: 1\n\n"));
    stream.end();
    const response = streamingResponse(claimable);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(await response.text()).toBe(": ok\n\ndata: 1\n\n");
  });

  test("every Response has headers of its own: changing one changes no other", () => {
    const first = eventStreamResponse(subscriberStream().stream, headers, undefined);
    first.headers.set("X-Extra", "1");
    first.headers.delete("content-type");
    for (const env of [undefined, CLAIMING_SERVER]) {
      const next = eventStreamResponse(subscriberStream().stream, headers, env);
      expect([...next.headers]).toEqual([["content-type", "text/event-stream"]]);
    }
    expect(headers).toEqual({ "Content-Type": "text/event-stream" });
  });

  test("for any other server: the stream is the body, and nothing is left to claim", async () => {
    const { stream } = subscriberStream();
    const response = eventStreamResponse(stream, headers, undefined);
    expect(claimableStream(response)).toBeUndefined();
    stream.end();
    expect(await response.text()).toBe(": ok\n\n");
  });
});

/** How many ReadableStreams `run` constructs (the global is swapped for a counting one meanwhile). */
function countReadableStreams(run: () => void): number {
  const Original = globalThis.ReadableStream;
  let made = 0;
  globalThis.ReadableStream = class extends Original<Uint8Array> {
    constructor(...args: ConstructorParameters<typeof ReadableStream<Uint8Array>>) {
      super(...args);
      made++;
    }
  } as typeof ReadableStream;
  try {
    run();
  } finally {
    globalThis.ReadableStream = Original;
  }
  return made;
}

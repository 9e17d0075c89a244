/** src/listen/node.ts under Node itself (node:http is Bun's own under `bun test`). */
import { describe, expect, test } from "bun:test";
import { runProcess } from "../helpers/process.ts";
import { NODE } from "../helpers/runtimes.ts";
import { SECRET_HEX } from "../helpers/tokens.ts";

describe("listenWithNode", () => {
  // node:http destroys a request still open when its client goes with an "aborted" error
  // and formats that error's stack: 8-26 µs for every stream that drops.
  test("a dropped stream leaves the hub, and node:http finds its request finished, not aborted", async () => {
    const result = await runProcess(
      NODE,
      ["--import", "tsx", "test/fixtures/node-dropped-streams.ts", "5"],
      { SSE_SECRET: SECRET_HEX },
      30_000,
    );
    expect(result).toMatchObject({ code: 0 });
    expect(JSON.parse(result.stdout.trim().split("\n").at(-1)!)).toEqual({ opened: 5, left: 0, abortedWithError: 0 });
  });
});

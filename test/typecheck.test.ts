/**
 * The Deno-only modules (the Deno entry and listen adapter) are outside tsc's view, which
 * checks against Bun's types; `deno check` holds them to Deno's own types.
 */
import { expect, test } from "bun:test";
import { ROOT, runProcess } from "./helpers/server.ts";

test("deno check passes on the Deno entry point (listen adapter included)", async () => {
  const result = await runProcess(
    `${ROOT}node_modules/.bin/deno`,
    ["check", "src/entry/deno.ts"],
    {},
    120_000,
  );
  expect(`${result.stdout}${result.stderr}`).not.toContain("error");
  expect(result.code).toBe(0);
}, 130_000);

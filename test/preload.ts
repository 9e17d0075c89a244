/**
 * Loaded before the test files (bunfig.toml): sets the default per-test timeout to
 * 60 s in every test file, as `bun test --timeout 60000` does. bunfig.toml has no
 * timeout setting (oven-sh/bun#7789), and `setDefaultTimeout` called here would reach
 * only the first file, since Bun resets it after each one (oven-sh/bun#43787); so the
 * call is put at the start of each test file as Bun loads it, on its first line, so that
 * line numbers in failures stay true. A `--timeout` on the command line still wins.
 */
import { plugin } from "bun";
import { readFileSync } from "node:fs";

const DEFAULT_TIMEOUT_MS = 60_000;

/** Bun does not show its own flags in `process.argv`; the kernel does (Linux only). */
function timeoutOnCommandLine(): boolean {
  try {
    return readFileSync("/proc/self/cmdline", "utf8").split("\0").some((arg) => arg === "--timeout" || arg.startsWith("--timeout="));
  } catch {
    return false;
  }
}

if (!timeoutOnCommandLine()) {
  const prologue = `import { setDefaultTimeout as __setDefaultTimeout } from "bun:test"; __setDefaultTimeout(${DEFAULT_TIMEOUT_MS}); `;
  plugin({
    name: "default test timeout",
    setup(build) {
      build.onLoad({ filter: /\.test\.ts$/ }, async ({ path }) => ({
        contents: prologue + (await Bun.file(path).text()),
        loader: "ts",
      }));
    },
  });
}

import { describe, expect, test } from "bun:test";
import { createLogger, redactUrl, type LogLevel } from "../src/log.ts";

function logAt(level: LogLevel): { lines: Record<string, unknown>[]; all: () => void } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(level, (line) => lines.push(JSON.parse(line)));
  const all = () => {
    logger.debug("d", { n: 1 });
    logger.info("i", { n: 2 });
    logger.warn("w");
    logger.error("e", { n: 4 });
  };
  return { lines, all };
}

describe("createLogger", () => {
  test("writes the levels at and above its own, as one JSON object a line with the fields", () => {
    const { lines, all } = logAt("info");
    all();
    expect(lines.map((l) => [l.level, l.msg, l.n])).toEqual([
      ["info", "i", 2],
      ["warn", "w", undefined],
      ["error", "e", 4],
    ]);
    expect(Number.isNaN(Date.parse(String(lines[0]!.time)))).toBe(false);
  });

  test("debug writes everything; silent writes nothing", () => {
    const debug = logAt("debug");
    debug.all();
    expect(debug.lines.map((l) => l.level)).toEqual(["debug", "info", "warn", "error"]);
    const silent = logAt("silent");
    silent.all();
    expect(silent.lines).toEqual([]);
  });
});

test("redactUrl hides every token value and keeps the rest of the URL", () => {
  expect(redactUrl("/events?token=abc&lastEventId=x-1")).toBe("/events?token=[redacted]&lastEventId=x-1");
  expect(redactUrl("/events?a=1&token=abc#f")).toBe("/events?a=1&token=[redacted]#f");
});

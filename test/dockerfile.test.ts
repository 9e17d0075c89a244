/**
 * Docker cannot run here, so the Dockerfile is linted and held to what it promises: it
 * builds the same binary the CLI test checks, and runs it small, non-root and healthchecked.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ROOT, runProcess } from "./helpers/server.ts";

const dockerfile = readFileSync(`${ROOT}Dockerfile`, "utf8");
const instructions = dockerfile
  .replace(/\\\n\s*/g, " ")
  .split("\n")
  .filter((line) => line.trim() && !line.trimStart().startsWith("#"));
const stages = instructions.filter((line) => line.startsWith("FROM "));
const finalStage = instructions.slice(instructions.lastIndexOf(stages.at(-1)!));

describe("Dockerfile", () => {
  test("passes the linter without a warning", async () => {
    const lint = await runProcess(`${ROOT}node_modules/.bin/dockerfile-utils`, ["lint", "Dockerfile"]);
    expect(lint.code).toBe(0);
    expect(lint.stdout + lint.stderr).toBe("");
  });

  test("multi-stage: builds with `npm run build` and ships only the binary", () => {
    expect(stages).toHaveLength(2);
    expect(instructions).toContain("RUN npm run build");
    expect(finalStage.some((l) => /^COPY --from=build \/src\/dist\/sse-server /.test(l))).toBe(true);
    expect(finalStage.filter((l) => l.startsWith("COPY"))).toHaveLength(1);
  });

  test("runs as a non-root user, exposes 8000, checks health, serves by default", () => {
    expect(finalStage.some((l) => /^USER (?!root\b|0\b)\S+/.test(l))).toBe(true);
    expect(finalStage).toContain("EXPOSE 8000");
    expect(finalStage.find((l) => l.startsWith("HEALTHCHECK"))).toMatch(/sse-server", "healthcheck"\]/);
    expect(finalStage).toContain('CMD ["serve"]');
    expect(finalStage.find((l) => l.startsWith("ENV"))).toMatch(/PORT=8000/);
  });
});

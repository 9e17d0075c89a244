/**
 * `sse-server doctor` against real nginx in front of the real server, in four
 * configurations: a correct one, buffering forced on, gzip on for text/event-stream, and
 * an idle timeout shorter than the heartbeat. All four run side by side.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Finding } from "../src/doctor.ts";
import { readFileSync } from "node:fs";
import { startCaddy } from "./helpers/caddy.ts";
import { proxyLocation, selfSignedCertificate, startNginx } from "./helpers/nginx.ts";
import { ROOT, runProcess, startServer, type RunningServer } from "./helpers/server.ts";
import { SECRET_HEX } from "./helpers/tokens.ts";

const CLI = [`${ROOT}node_modules/.bin/bun`, "src/cli.ts"];

/** A fenced block of README's "Behind a reverse proxy" section, the upstream's port swapped in. */
function readmeBlock(language: string, upstreamPort: number): string {
  const readme = readFileSync(`${ROOT}README.md`, "utf8");
  const section = readme.slice(readme.indexOf("## Behind a reverse proxy"));
  const block = new RegExp("```" + language + "\\n([\\s\\S]*?)```").exec(section)?.[1];
  if (!block) throw new Error(`README has no ${language} block under "Behind a reverse proxy"`);
  return block.replaceAll("127.0.0.1:8000", `127.0.0.1:${upstreamPort}`);
}

/** The body of the README's Caddy site block (its address is the test's own). */
const caddySiteBody = (block: string) => block.trim().split("\n").slice(1, -1).join("\n");

const GOOD_DIRECTIVES = `proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 3600s;`;

interface Report {
  readonly code: number | string;
  readonly stdout: string;
  readonly ok: boolean;
  readonly findings: readonly Finding[];
}

/** `trust`: a certificate the doctor's fetch accepts (NODE_EXTRA_CA_CERTS, which Bun reads too). */
async function doctor(url: string, idle: number, json = true, trust?: string): Promise<Report> {
  const args = [...CLI.slice(1), "doctor", "--url", url, "--idle", String(idle), ...(json ? ["--json"] : [])];
  const env = { SSE_SECRET: SECRET_HEX, ...(trust ? { NODE_EXTRA_CA_CERTS: trust } : {}) };
  const result = await runProcess(CLI[0]!, args, env, 40_000);
  if (!json) return { code: result.code, stdout: result.stdout, ok: result.code === 0, findings: [] };
  const parsed = JSON.parse(result.stdout) as { ok: boolean; findings: Finding[] };
  return { code: result.code, stdout: result.stdout, ...parsed };
}

const find = (report: Report, check: string) => {
  const finding = report.findings.find((f) => f.check === check);
  if (!finding) throw new Error(`no ${check} finding in ${report.stdout}`);
  return finding;
};

test("doctor: a bad --idle or no SSE_SECRET is bad usage (exit 2)", async () => {
  const badIdle = await runProcess(CLI[0]!, [...CLI.slice(1), "doctor", "--url", "http://127.0.0.1:9", "--idle", "soon"], { SSE_SECRET: SECRET_HEX });
  expect(badIdle.code).toBe(2);
  expect(badIdle.stderr).toContain("--idle must be");
  const noSecret = await runProcess(CLI[0]!, [...CLI.slice(1), "doctor", "--url", "http://127.0.0.1:9"]);
  expect(noSecret.code).toBe(2);
  expect(noSecret.stderr).toContain("SSE_SECRET is not set");
});

describe("sse-server doctor through nginx and Caddy", () => {
  let fastBeat: RunningServer;
  let slowBeat: RunningServer;
  const proxies: { stop(): Promise<void> }[] = [];
  let reports: Record<"good" | "buffered" | "gzip" | "idle" | "direct" | "caddy" | "h2" | "tls11", Report>;
  let goodText: Report;

  beforeAll(async () => {
    [fastBeat, slowBeat] = await Promise.all([
      startServer("bun", { env: { SSE_HEARTBEAT: "1" } }),
      startServer("bun", { env: { SSE_HEARTBEAT: "30" } }),
    ]);
    const certificate = selfSignedCertificate();
    const [good, buffered, gzip, idle, caddy, h2, tls11] = await Promise.all([
      startNginx(readmeBlock("nginx", fastBeat.port)),
      startNginx(proxyLocation(fastBeat.port, "proxy_ignore_headers X-Accel-Buffering;\n      proxy_buffering on;")),
      startNginx(proxyLocation(fastBeat.port, "proxy_http_version 1.1;\n      proxy_buffering off;"), "gzip on;\n  gzip_types text/event-stream;"),
      startNginx(proxyLocation(slowBeat.port, GOOD_DIRECTIVES.replace("3600s", "5s"))),
      startCaddy(fastBeat.port, caddySiteBody(readmeBlock("caddyfile", fastBeat.port))),
      startNginx(proxyLocation(fastBeat.port, GOOD_DIRECTIVES), "", { ...certificate, http2: true }),
      startNginx(proxyLocation(fastBeat.port, GOOD_DIRECTIVES), "", { ...certificate, http2: false }),
    ]);
    proxies.push(good, buffered, gzip, idle, caddy, h2, tls11);
    const [g, b, z, i, d, c, text, viaH2, viaTls11] = await Promise.all([
      doctor(`${good.url}/sse-server/`, 3),
      doctor(buffered.url, 2),
      doctor(gzip.url, 2),
      doctor(idle.url, 9),
      doctor(fastBeat.url, 3),
      doctor(`${caddy.url}/sse-server/`, 3),
      doctor(`${good.url}/sse-server/`, 3, false),
      doctor(h2.url, 2, true, certificate.cert),
      doctor(tls11.url, 2, true, certificate.cert),
    ]);
    reports = { good: g, buffered: b, gzip: z, idle: i, direct: d, caddy: c, h2: viaH2, tls11: viaTls11 };
    goodText = text;
  }, 60_000);

  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await Promise.all([fastBeat?.stop(), slowBeat?.stop()]);
  });

  test("README's nginx and Caddy configs (and no proxy at all): every check ok, exit 0", () => {
    for (const report of [reports.good, reports.caddy, reports.direct]) {
      expect(report.code).toBe(0);
      expect(report.ok).toBe(true);
      expect(report.findings.filter((f) => f.verdict !== "ok")).toEqual([]);
      expect(find(report, "Content-Type").detail).toBe("text/event-stream");
      expect(find(report, "resume").detail).toMatch(/replayed/);
      expect(find(report, "heartbeats").detail).toMatch(/^[1-4] in 3\.0 s, gaps /);
    }
    for (const report of [reports.good, reports.direct]) {
      expect(find(report, "HTTP version").detail).toMatch(/^HTTP\/1\.1 \(status line\): plain http/);
    }
    // Straight from the server the header is there; nginx consumes it.
    expect(find(reports.direct, "X-Accel-Buffering").detail).toBe("no");
  });

  test("plain output: one line per check with its verdict, then the verdict of all", () => {
    expect(goodText.code).toBe(0);
    const lines = goodText.stdout.trim().split("\n");
    for (const check of ["Content-Type", "Cache-Control", "compression", "first byte", "event delay", "resume", "heartbeats", "idle cut", "HTTP version"]) {
      expect(lines.some((l) => l.startsWith(`ok   ${check}: `))).toBe(true);
    }
    expect(lines.at(-1)).toBe("verdict: the path carries event streams well");
  });

  test("buffering forced on: the event is held back, exit 1, the fix named", () => {
    const report = reports.buffered;
    expect(report.code).toBe(1);
    // nginx holds even the response head: nothing comes within the doctor's wait.
    const held = find(report, "first byte");
    expect(held.verdict).toBe("fail");
    expect(held.detail).toMatch(/^held back/);
    expect(held.fix).toContain("proxy_buffering off");
  });

  test("gzip on for text/event-stream: compression reported, exit 1", () => {
    const report = reports.gzip;
    expect(report.code).toBe(1);
    const compression = find(report, "compression");
    expect(compression).toMatchObject({ verdict: "fail" });
    expect(compression.detail).toContain("gzip");
    expect(compression.fix).toContain("gzip off");
  });

  test("proxy_read_timeout 5s under SSE_HEARTBEAT=30: the idle cut near 5 s, exit 1", () => {
    const report = reports.idle;
    expect(report.code).toBe(1);
    const cut = find(report, "idle cut");
    expect(cut.verdict).toBe("fail");
    const after = Number(/cut after ([\d.]+) s/.exec(cut.detail)?.[1]);
    // Timed from the last data the doctor saw, which a loaded machine may read up to a
    // second or so after nginx passed it on (nginx times from its own read).
    expect(after).toBeGreaterThan(3);
    expect(after).toBeLessThan(7);
    expect(cut.fix).toContain("proxy_read_timeout");
    expect(find(report, "event delay").verdict).toBe("ok");
  });

  test("HTTPS: HTTP/2 offered by ALPN is ok; a TLS listener without HTTP/2 warns and names the fix", () => {
    expect(reports.h2.code).toBe(0);
    expect(find(reports.h2, "HTTP version")).toMatchObject({ verdict: "ok", detail: expect.stringMatching(/^HTTP\/2 \(TLS ALPN\)/) });
    expect(find(reports.h2, "event delay").verdict).toBe("ok"); // the stream itself went through TLS
    // A warning is not a failure: the path still carries streams, with a per-host limit.
    expect(reports.tls11.code).toBe(0);
    const version = find(reports.tls11, "HTTP version");
    expect(version).toMatchObject({ verdict: "warn", detail: expect.stringMatching(/^HTTP\/1\.1 \(TLS ALPN\): the TLS listener does not offer HTTP\/2/) });
    expect(version.fix).toContain("http2");
  });
});

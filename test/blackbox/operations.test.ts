/** What an operator relies on: metrics, health, logs, limits and a drained shutdown. */
import { describe, expect, test } from "bun:test";
import { eventsUrl, expectHealthy, postSubmit, SERVERS, startServer, waitForLog } from "../helpers/server.ts";
import { openStream } from "../helpers/sse.ts";
import { OTHER_SECRET_HEX, subscribeToken, submitToken, tamper } from "../helpers/tokens.ts";

/** Parses the Prometheus text format into `name{labels}` → value. */
async function scrape(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

for (const runtime of SERVERS) {
  describe(`${runtime}: operations`, () => {
    test("metrics count known traffic exactly", async () => {
      const server = await startServer(runtime, { env: { SSE_HEARTBEAT: "3600" } });
      try {
        const streams = await Promise.all([
          openStream(eventsUrl(server, subscribeToken(["m1"]))),
          openStream(eventsUrl(server, subscribeToken(["m1", "m2"]))),
        ]);
        const events = [
          { topic: "m1", event: "e", data: "x" }, // 2 deliveries
          { topic: "m2", event: "e", data: "y" }, // 1
          { topic: "nobody", event: "e", data: "z" }, // 0
        ];
        expect((await postSubmit(server, submitToken(events))).status).toBe(200);
        expect((await postSubmit(server, submitToken([events[1]!]))).status).toBe(200);
        await streams[0]!.next(1);
        await streams[1]!.next(3);
        // Rejections: two forged, one expired, one missing token; one bad payload.
        await (await fetch(eventsUrl(server, subscribeToken(["m"], { secretHex: OTHER_SECRET_HEX })))).text();
        await (await postSubmit(server, tamper(submitToken(events), (b) => void (b[40] ^= 1)))).text();
        await (await fetch(eventsUrl(server, subscribeToken(["m"], { timestamp: 1_000_000 })))).text();
        await (await fetch(`${server.url}/events`)).text();
        await (await postSubmit(server, subscribeToken(["not an event list"]))).text();

        const m = await scrape(server.url);
        expect(m.get("sse_open_streams")).toBe(2);
        expect(m.get("sse_subscribed_topics")).toBe(2);
        expect(m.get("sse_submissions_total")).toBe(2);
        expect(m.get("sse_events_submitted_total")).toBe(4);
        expect(m.get("sse_deliveries_total")).toBe(4);
        expect(m.get('sse_token_rejections_total{reason="forged"}')).toBe(2);
        expect(m.get('sse_token_rejections_total{reason="expired"}')).toBe(1);
        expect(m.get('sse_token_rejections_total{reason="missing"}')).toBe(1);
        expect(m.get('sse_requests_rejected_total{status="401"}')).toBe(4);
        expect(m.get('sse_requests_rejected_total{status="400"}')).toBe(1);
        expect(m.get("sse_submit_duration_seconds_count")).toBe(2);
        expect(m.get("sse_slow_consumers_disconnected_total")).toBe(0);
        expect(m.get("sse_history_events")).toBe(4);
        expect(m.get("process_resident_memory_bytes")).toBeGreaterThan(1_000_000);
        // Bytes: the openings plus each delivered frame, exactly what the clients received.
        const received = streams.reduce((sum, s) => sum + s.bytesReceived(), 0);
        expect(m.get("sse_bytes_written_total")).toBe(received);
        for (const s of streams) s.close();
      } finally {
        await server.stop();
      }
    });

    test("health: live and ready answer 200 in memory mode", async () => {
      const server = await startServer(runtime);
      try {
        expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
        expect((await fetch(`${server.url}/health/ready`)).status).toBe(200);
      } finally {
        await server.stop();
      }
    });

    test("maximum open streams: 503 with Retry-After past it, room again once one closes", async () => {
      const server = await startServer(runtime, { env: { SSE_MAX_STREAMS: "2" } });
      try {
        const token = subscribeToken(["full"]);
        const a = await openStream(eventsUrl(server, token));
        const b = await openStream(eventsUrl(server, token));
        const refused = await fetch(eventsUrl(server, token));
        expect(refused.status).toBe(503);
        expect(refused.headers.get("retry-after")).toBe("5");
        expect(await refused.text()).toMatch(/too many open streams/);
        a.close();
        const deadline = Date.now() + 5000;
        let status = 0;
        while (Date.now() < deadline) {
          const res = await fetch(eventsUrl(server, token));
          status = res.status;
          if (status === 200) {
            await res.body?.cancel();
            break;
          }
          await res.text();
          await Bun.sleep(50);
        }
        expect(status).toBe(200);
        b.close();
      } finally {
        await server.stop();
      }
    });

    test("logs are JSON lines and never carry a token", async () => {
      const server = await startServer(runtime, { env: { LOG_LEVEL: "debug" } });
      try {
        const token = subscribeToken(["logged"], { secretHex: OTHER_SECRET_HEX });
        await (await fetch(eventsUrl(server, token))).text();
        const rejected = await waitForLog(server, (e) => e.msg === "request rejected");
        expect(rejected).toMatchObject({ level: "info", status: 401 });
        expect(String(rejected.path)).toContain("token=[redacted]");
        for (const line of server.logs) {
          expect(() => JSON.parse(line)).not.toThrow();
          expect(line).not.toContain(token.slice(0, 30));
        }
        const start = JSON.parse(server.logs[0]!) as Record<string, unknown>;
        expect(start).toMatchObject({ msg: "listening", level: "info" });
        await expectHealthy(server);
      } finally {
        await server.stop();
      }
    });
  });
}

describe("graceful shutdown with a drain window", () => {
  test("stream closes are spread over SSE_SHUTDOWN_DRAIN seconds, then exit 0", async () => {
    const server = await startServer("bun", { env: { SSE_SHUTDOWN_DRAIN: "2" } });
    const streams = await Promise.all(
      Array.from({ length: 20 }, () => openStream(eventsUrl(server, subscribeToken(["drain"])))),
    );
    const started = Date.now();
    const endedAt: number[] = [];
    const all = streams.map((s) => s.ended.then(() => endedAt.push(Date.now() - started)));
    server.process.kill("SIGTERM");
    await Promise.all(all);
    expect(await server.exited).toBe(0);
    endedAt.sort((a, b) => a - b);
    // Not all at once: the first close comes early, the last near the end of the window.
    expect(endedAt[0]!).toBeLessThan(800);
    expect(endedAt.at(-1)!).toBeGreaterThan(1200);
    expect(endedAt.at(-1)!).toBeLessThan(4000);
  });
});

/**
 * The token verifier: short tokens inline and synchronous, long ones on a worker thread
 * with the same answers, a bounded queue that refuses at once, and a worker that dies
 * replaced without taking anything else down.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { hexToBytes } from "../../src/hex.ts";
import { spawnWebWorker } from "../../src/listen/web-worker.ts";
import { createBranca, TokenError, type OpenedToken } from "../../src/token/branca.ts";
import {
  INLINE_MAX_CHARS,
  TokenVerifier,
  VerifierBusy,
  type SpawnTokenWorker,
  type TokenVerifierOptions,
  type TokenWorkerEvents,
  type VerifyReply,
  type WorkerRequest,
} from "../../src/token/offload.ts";
import { referenceBase62, SECRET_HEX, seal, submitToken, subscribeToken, tamper } from "../helpers/tokens.ts";

const SECRET = hexToBytes(SECRET_HEX);
const TTL = 3600;
const WORKER = new URL("../../src/entry/token-worker.ts", import.meta.url);
const CRASHING_WORKER = new URL("../fixtures/crashing-token-worker.ts", import.meta.url);

const verifiers: TokenVerifier[] = [];
afterEach(() => {
  for (const verifier of verifiers.splice(0)) verifier.close();
});

function verifier(options: Partial<TokenVerifierOptions> = {}): TokenVerifier {
  const made = new TokenVerifier({ branca: createBranca(SECRET), secret: SECRET, ttlSeconds: TTL, ...options });
  verifiers.push(made);
  return made;
}

/** A worker under the test's control: records what it is sent, answers when told to. */
function fakeWorkers() {
  const spawned: { sent: WorkerRequest[]; events: TokenWorkerEvents; terminated: boolean }[] = [];
  const spawn: SpawnTokenWorker = (events) => {
    const worker = { sent: [] as WorkerRequest[], events, terminated: false };
    spawned.push(worker);
    return { post: (request) => void worker.sent.push(request), terminate: () => void (worker.terminated = true) };
  };
  const jobs = (i: number) => spawned[i]!.sent.filter((r) => r.kind === "verify");
  return { spawn, spawned, jobs };
}

/** What verifying `token` comes to: the payload, or the rejection's class, reason and message. */
async function outcome(run: () => OpenedToken | Promise<OpenedToken>): Promise<unknown> {
  try {
    const { payload, timestamp } = await run();
    return { payload: Array.from(payload), timestamp };
  } catch (error) {
    if (error instanceof TokenError) return { rejected: error.reason, message: error.message };
    return { error: (error as Error).name, message: (error as Error).message };
  }
}

const pad = (n: number) => "x".repeat(n);
/** For a job a test leaves pending on purpose: its rejection at close is expected. */
const leavePending = (job: OpenedToken | Promise<OpenedToken>) => void (job instanceof Promise && job.catch(() => {}));
/** Every kind of token, short and past the inline threshold. */
function tokenCases(): [string, string][] {
  const now = Math.floor(Date.now() / 1000);
  const valid = submitToken([{ topic: "t", event: "e", data: "d" }]);
  const big = submitToken([{ topic: "t", event: "e", data: pad(4000) }]);
  return [
    ["valid", valid],
    ["valid, long", big],
    ["valid subscribe, long", subscribeToken(Array.from({ length: 60 }, (_, i) => `topic-${i}-${pad(40)}`))],
    ["forged (tag)", tamper(valid, (b) => void (b[b.length - 1] ^= 1))],
    ["forged, long (ciphertext)", tamper(big, (b) => void (b[100] ^= 1))],
    ["expired", subscribeToken(["t"], { timestamp: now - TTL - 60 })],
    ["expired, long", submitToken([{ topic: "t", event: "e", data: pad(3000) }], { timestamp: now - TTL - 60 })],
    ["not base62", valid.slice(0, 20) + "+" + valid.slice(21)],
    ["not base62, long", big.slice(0, 3000) + "é" + big.slice(3001)],
    ["too short", referenceBase62.encode(Uint8Array.from([0xba, 1, 2, 3]))],
    ["wrong version, long", tamper(big, (b) => void (b[0] = 0x17))],
    ["random base62, long", referenceBase62.encode(Uint8Array.from({ length: 3000 }, (_, i) => (i * 131 + 7) & 0xff))],
    ["not msgpack but authentic, long", seal(new Uint8Array(3000).fill(0xc1))],
  ];
}

describe("TokenVerifier", () => {
  test("a token up to the inline threshold is verified synchronously, without the worker", () => {
    const workers = fakeWorkers();
    const tokens = verifier({ spawnWorker: workers.spawn });
    const token = submitToken([{ topic: "t", event: "e", data: pad(1000) }]);
    expect(token.length).toBeLessThanOrEqual(INLINE_MAX_CHARS);
    expect((tokens.open(token) as OpenedToken).payload).toBeInstanceOf(Uint8Array);
    expect(() => tokens.open(token.slice(0, -2))).toThrow(TokenError);
    expect(workers.jobs(0)).toHaveLength(0);
  });

  test("a longer token goes to the worker, which is sent the key first", async () => {
    const workers = fakeWorkers();
    const tokens = verifier({ spawnWorker: workers.spawn });
    const token = submitToken([{ topic: "t", event: "e", data: pad(3000) }]);
    expect(token.length).toBeGreaterThan(INLINE_MAX_CHARS);
    const opened = tokens.open(token);
    expect(opened).toBeInstanceOf(Promise);
    const sent = workers.spawned[0]!.sent;
    expect(sent[0]).toEqual({ kind: "init", secret: SECRET });
    expect(sent[1]).toMatchObject({ kind: "verify", token, ttl: TTL });
    const id = (sent[1] as { id: number }).id;
    workers.spawned[0]!.events.message({ id, ok: true, payload: Uint8Array.of(1, 2), timestamp: 1 });
    expect(Array.from((await opened).payload)).toEqual([1, 2]);
    expect(tokens.offloaded).toBe(1);
  });

  test("a rejection from the worker is the same TokenError; any other failure stops the worker (503s, not 500s)", async () => {
    const workers = fakeWorkers();
    const exits: string[] = [];
    const tokens = verifier({ spawnWorker: workers.spawn, inlineMaxChars: 0, respawnDelayMs: 0, onWorkerExit: (w) => exits.push(w) });
    const forged = tokens.open("abc") as Promise<OpenedToken>;
    const broken = tokens.open("def") as Promise<OpenedToken>;
    const waiting = tokens.open("ghi") as Promise<OpenedToken>;
    const [a, b] = workers.jobs(0) as { id: number }[];
    const replies: VerifyReply[] = [
      { id: a!.id, ok: false, reason: "forged", message: "token was forged" },
      { id: b!.id, ok: false, reason: null, message: "TypeError: oops" },
    ];
    for (const reply of replies) workers.spawned[0]!.events.message(reply);
    expect(await outcome(() => forged)).toEqual({ rejected: "forged", message: "token was forged" });
    expect(await outcome(() => broken)).toMatchObject({ error: "VerifierBusy" });
    expect(await outcome(() => waiting)).toMatchObject({ error: "VerifierBusy" });
    expect(workers.spawned[0]!.terminated).toBe(true);
    expect(exits).toEqual(["failed a job: TypeError: oops"]);
    expect(tokens.queuedJobs).toBe(0);
    leavePending(tokens.open("jkl")); // a new worker takes the next one
    expect(workers.jobs(1)).toHaveLength(1);
  });

  test("a worker that answers nothing for stallMs is taken for hung: its jobs get VerifierBusy, a new one starts", async () => {
    const workers = fakeWorkers();
    const exits: string[] = [];
    const tokens = verifier({ spawnWorker: workers.spawn, inlineMaxChars: 0, respawnDelayMs: 0, stallMs: 100, onWorkerExit: (w) => exits.push(w) });
    const first = tokens.open("abc") as Promise<OpenedToken>;
    // An answer within stallMs is progress: the clock starts again.
    await Bun.sleep(60);
    const second = tokens.open("def") as Promise<OpenedToken>;
    workers.spawned[0]!.events.message({ id: (workers.jobs(0)[0] as { id: number }).id, ok: true, payload: Uint8Array.of(7), timestamp: 1 });
    expect(Array.from((await first).payload)).toEqual([7]);
    await Bun.sleep(60);
    expect(workers.spawned[0]!.terminated).toBe(false);
    expect(await outcome(() => second)).toMatchObject({ error: "VerifierBusy" });
    expect(workers.spawned[0]!.terminated).toBe(true);
    expect(exits[0]).toMatch(/answered nothing for 100 ms with 1 tokens waiting/);
    expect(tokens.queuedJobs).toBe(0);
  });

  test("a job that cannot be posted frees its place and gets VerifierBusy", async () => {
    const exits: string[] = [];
    let spawns = 0;
    const tokens = verifier({
      inlineMaxChars: 0,
      respawnDelayMs: 60_000,
      onWorkerExit: (w) => exits.push(w),
      spawnWorker: () => {
        spawns++;
        return {
          post: (request) => {
            if (request.kind === "verify") throw new Error("the port is closed");
          },
          terminate: () => {},
        };
      },
    });
    expect(await outcome(() => tokens.open("abc"))).toMatchObject({ error: "VerifierBusy" });
    expect(tokens.queuedJobs).toBe(0);
    expect(exits[0]).toMatch(/could not be sent a job: Error: the port is closed/);
    expect(await outcome(() => tokens.open("def"))).toMatchObject({ error: "VerifierBusy", message: expect.stringMatching(/restarting/) });
    expect(spawns).toBe(1);
  });

  test("started(): waits for the worker's self-test; a failure, an exit or silence is a SelfTestError", async () => {
    const ready = fakeWorkers();
    const fine = verifier({ spawnWorker: ready.spawn });
    const waiting = fine.started(1000);
    ready.spawned[0]!.events.message({ kind: "ready" });
    await waiting;
    const failing = fakeWorkers();
    const bad = verifier({ spawnWorker: failing.spawn });
    const refused = bad.started(1000);
    failing.spawned[0]!.events.message({ kind: "failed", message: "token crypto (x) failed its known-answer test: …" });
    expect(refused).rejects.toThrow("the token verification worker failed its start-up self-test: token crypto (x) failed");
    const dying = fakeWorkers();
    const died = verifier({ spawnWorker: dying.spawn }).started(1000);
    dying.spawned[0]!.events.exit("exited with code 1");
    expect(died).rejects.toThrow("the token verification worker exited with code 1");
    expect(verifier({ spawnWorker: fakeWorkers().spawn }).started(50)).rejects.toThrow("was not ready within 50 ms");
    await verifier({}).started(); // no worker: nothing to wait for
  });

  test("the queue is bounded in jobs: past it, a long token is refused at once, never sent", async () => {
    const workers = fakeWorkers();
    const tokens = verifier({ spawnWorker: workers.spawn, inlineMaxChars: 0, maxQueuedJobs: 2 });
    const first = tokens.open("a1");
    leavePending(tokens.open("a2"));
    expect(await outcome(() => tokens.open("a3"))).toMatchObject({ error: "VerifierBusy" });
    expect(workers.jobs(0)).toHaveLength(2);
    expect(tokens.refusedBusy).toBe(1);
    // An answer makes room again.
    workers.spawned[0]!.events.message({ id: (workers.jobs(0)[0] as { id: number }).id, ok: true, payload: Uint8Array.of(9), timestamp: 1 });
    expect(Array.from((await first).payload)).toEqual([9]);
    leavePending(tokens.open("a4"));
    expect(workers.jobs(0)).toHaveLength(3);
  });

  test("the queue is bounded in characters, but one token alone is always taken", async () => {
    const workers = fakeWorkers();
    const tokens = verifier({ spawnWorker: workers.spawn, inlineMaxChars: 0, maxQueuedChars: 100 });
    leavePending(tokens.open(pad(500))); // over the budget, but the queue was empty
    expect(workers.jobs(0)).toHaveLength(1);
    expect(await outcome(() => tokens.open(pad(1)))).toMatchObject({ error: "VerifierBusy" });
    expect(tokens.queuedJobs).toBe(1);
  });

  test("a worker that dies fails its jobs with VerifierBusy and is replaced, not before the delay", async () => {
    const workers = fakeWorkers();
    const exits: string[] = [];
    const tokens = verifier({
      spawnWorker: workers.spawn,
      inlineMaxChars: 0,
      respawnDelayMs: 60_000,
      onWorkerExit: (why) => exits.push(why),
    });
    const pending = [tokens.open("j1"), tokens.open("j2")];
    workers.spawned[0]!.events.exit("error: boom");
    for (const job of pending) expect(await outcome(() => job)).toMatchObject({ error: "VerifierBusy" });
    expect(workers.spawned[0]!.terminated).toBe(true);
    expect(exits).toEqual(["error: boom"]);
    // Within the delay: refused at once, no new worker.
    expect(await outcome(() => tokens.open("j3"))).toMatchObject({ error: "VerifierBusy" });
    expect(workers.spawned).toHaveLength(1);
    // A late answer from the dead worker changes nothing.
    workers.spawned[0]!.events.message({ id: 1, ok: true, payload: Uint8Array.of(1), timestamp: 1 });
    expect(tokens.queuedJobs).toBe(0);
    // Past the delay (here none), the next long token starts a new worker.
    const again = verifier({ spawnWorker: workers.spawn, inlineMaxChars: 0, respawnDelayMs: 0 });
    workers.spawned.at(-1)!.events.exit("closed");
    const next = again.open("j4");
    const replacement = workers.spawned.at(-1)!;
    expect(workers.spawned).toHaveLength(3);
    expect(replacement.sent[0]).toMatchObject({ kind: "init" });
    replacement.events.message({ id: (workers.jobs(2)[0] as { id: number }).id, ok: true, payload: Uint8Array.of(4), timestamp: 1 });
    expect(await outcome(() => next)).toEqual({ payload: [4], timestamp: 1 });
  });

  test("a worker that cannot start is retried later, and refuses meanwhile", async () => {
    let attempts = 0;
    const exits: string[] = [];
    const tokens = verifier({
      spawnWorker: () => {
        attempts++;
        throw new Error("no threads here");
      },
      inlineMaxChars: 0,
      onWorkerExit: (why) => exits.push(why),
    });
    expect(await outcome(() => tokens.open("x"))).toMatchObject({ error: "VerifierBusy" });
    expect(attempts).toBe(1); // the start-up attempt; the request did not retry at once
    expect(exits[0]).toMatch(/could not start: Error: no threads here/);
  });

  test("close fails what is pending and stops the worker", async () => {
    const workers = fakeWorkers();
    const tokens = verifier({ spawnWorker: workers.spawn, inlineMaxChars: 0 });
    const job = tokens.open("x");
    tokens.close();
    expect(await outcome(() => job)).toMatchObject({ error: "VerifierBusy" });
    expect(workers.spawned[0]!.terminated).toBe(true);
  });
});

describe("TokenVerifier with a real worker thread", () => {
  test("same answer as inline decoding for every kind of token", async () => {
    const inline = verifier();
    const offloaded = verifier({ spawnWorker: spawnWebWorker(WORKER), inlineMaxChars: 0 });
    for (const [what, token] of tokenCases()) {
      const viaWorker = offloaded.open(token);
      expect({ what, async: viaWorker instanceof Promise }).toEqual({ what, async: true });
      expect({ what, outcome: await outcome(() => viaWorker) }).toEqual({ what, outcome: await outcome(() => inline.open(token)) });
    }
    expect(offloaded.offloaded).toBe(tokenCases().length);
  });

  test("many concurrent jobs each get their own answer", async () => {
    const offloaded = verifier({ spawnWorker: spawnWebWorker(WORKER), inlineMaxChars: 0 });
    const tokens = Array.from({ length: 50 }, (_, i) => submitToken([{ topic: `t${i}`, event: "", data: pad(i * 40) }]));
    const results = await Promise.all(tokens.map((t) => offloaded.open(t)));
    const inline = createBranca(SECRET);
    results.forEach((opened, i) => expect(Array.from(opened.payload)).toEqual(Array.from(inline.decode(tokens[i]!))));
  });

  test("a worker that crashes is replaced; its job gets VerifierBusy, the next one an answer", async () => {
    const exits: string[] = [];
    const tokens = verifier({
      spawnWorker: spawnWebWorker(CRASHING_WORKER),
      inlineMaxChars: 0,
      respawnDelayMs: 0,
      onWorkerExit: (why) => exits.push(why),
    });
    const crashed = await outcome(() => tokens.open("CRASH" + pad(10)));
    expect(crashed).toMatchObject({ error: "VerifierBusy" });
    expect(exits[0]).toMatch(/crashed on purpose/);
    const valid = submitToken([{ topic: "t", event: "e", data: "after the crash" }]);
    expect(Array.from((await tokens.open(valid)).payload)).toEqual(Array.from(createBranca(SECRET).decode(valid)));
  });
});

test("VerifierBusy is not a TokenError (a 503, not a 401)", () => {
  expect(new VerifierBusy("x")).not.toBeInstanceOf(TokenError);
});

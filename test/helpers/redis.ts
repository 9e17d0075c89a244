/**
 * Real Redis for the tests: a `redis-server` (or a 3-node Redis Cluster) on free loopback
 * ports in a temp dir, with no persistence. A missing `redis-server` is an error, never a
 * skip: CI installs it (`.ci/run`), and a cluster feature left untested must fail loudly.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RedisNode {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Hard kill (SIGKILL): connections drop at once, as in a crash. */
  kill(): Promise<void>;
  /** Starts a fresh, empty server on the same port (after `kill`). */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** Runs `redis-cli` against this node and returns its trimmed output. */
  cli(...args: string[]): string;
}

export interface RedisCluster {
  readonly nodes: readonly RedisNode[];
  /** Comma-separated seed URLs, as REDIS_URL takes them in cluster mode. */
  readonly url: string;
  /** The node whose shard owns `channel`'s hash slot. */
  ownerOf(channel: string): RedisNode;
  stop(): Promise<void>;
}

/** Throws (failing the test) unless `redis-server` and `redis-cli` are installed. */
export function requireRedis(): void {
  for (const tool of ["redis-server", "redis-cli"]) {
    const found = spawnSync(tool, ["--version"], { encoding: "utf8" });
    if (found.error || found.status !== 0) {
      throw new Error(`${tool} is not installed: these tests need a real Redis (apt-get install redis-server)`);
    }
  }
}

/** A loopback port free now (and, for cluster nodes, its bus port +10000 too). */
export async function freePort(withBusPort = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = withBusPort ? 20_000 + Math.floor(Math.random() * 30_000) : await ephemeralPort();
    if ((await isFree(port)) && (!withBusPort || (await isFree(port + 10_000)))) return port;
  }
  throw new Error("no free loopback port found");
}

function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

const BASE_ARGS = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"];

export async function startRedis(options: { port?: number; extraArgs?: readonly string[] } = {}): Promise<RedisNode> {
  requireRedis();
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), `sse-redis-${port}-`));
  const args = [...BASE_ARGS, "--port", String(port), "--dir", dir, ...(options.extraArgs ?? [])];
  let child: ChildProcess | undefined;

  const launch = async () => {
    child = await spawnUntilReady(args, port);
  };
  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill("SIGKILL");
    await exited;
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: launch,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
    cli: (...cliArgs) => redisCli(port, cliArgs),
  };
}

/** Spawns redis-server and resolves once it accepts connections (bounded: 10 s). */
function spawnUntilReady(args: readonly string[], port: number): Promise<ChildProcess> {
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`redis-server on port ${port} did not start: ${output}`));
    }, 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (!output.includes("Ready to accept connections")) return;
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      child.stdout!.resume(); // keep draining, so a chatty server never blocks on its pipe
      resolve(child);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", (error) => (clearTimeout(timer), reject(error)));
    child.once("exit", (code) => (clearTimeout(timer), reject(new Error(`redis-server exited (${code}): ${output}`))));
  });
}

export function redisCli(port: number, args: readonly string[]): string {
  const result = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], {
    encoding: "utf8",
    timeout: 10_000,
  });
  if (result.error) throw result.error;
  return result.stdout.trim();
}

/** Three masters, no replicas, every slot covered: the smallest real Redis Cluster. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const nodes: RedisNode[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort(true);
      nodes.push(
        await startRedis({
          port,
          extraArgs: ["--cluster-enabled", "yes", "--cluster-config-file", `nodes-${port}.conf`, "--cluster-node-timeout", "2000"],
        }),
      );
    }
    const create = spawnSync(
      "redis-cli",
      ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "0", "--cluster-yes"],
      { encoding: "utf8", timeout: 30_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    await waitUntil(() => nodes.every((n) => n.cli("CLUSTER", "INFO").includes("cluster_state:ok")), 15_000, "cluster state ok");
  } catch (error) {
    for (const node of nodes) await node.stop();
    throw error;
  }
  const ownerBySlotRange = parseSlots(nodes);
  return {
    nodes,
    url: nodes.map((n) => n.url).join(","),
    ownerOf(channel) {
      const slot = Number(nodes[0]!.cli("CLUSTER", "KEYSLOT", channel));
      const owner = ownerBySlotRange.find(({ from, to }) => slot >= from && slot <= to);
      if (!owner) throw new Error(`no owner for slot ${slot}`);
      return owner.node;
    },
    async stop() {
      for (const node of nodes) await node.stop();
    },
  };
}

/** Slot ranges per node, from `CLUSTER SLOTS` as redis-cli prints it (one value a line). */
function parseSlots(nodes: readonly RedisNode[]): { from: number; to: number; node: RedisNode }[] {
  const ranges: { from: number; to: number; node: RedisNode }[] = [];
  for (const node of nodes) {
    const myId = node.cli("CLUSTER", "MYID");
    for (const line of node.cli("CLUSTER", "NODES").split("\n")) {
      const fields = line.split(" ");
      if (fields[0] !== myId) continue;
      for (const range of fields.slice(8)) {
        const [from, to = from] = range.split("-").map(Number);
        ranges.push({ from: from!, to: to!, node });
      }
    }
  }
  return ranges;
}

/** Polls `condition` every 50 ms until true, or throws after `timeoutMs`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** How many connections are subscribed to `channel` (plain pub/sub). */
export const numSub = (node: RedisNode, channel: string) =>
  Number(node.cli("PUBSUB", "NUMSUB", channel).split("\n")[1] ?? 0);

/** How many connections are subscribed to sharded `channel` on the node that owns it. */
export const shardNumSub = (node: RedisNode, channel: string) =>
  Number(node.cli("PUBSUB", "SHARDNUMSUB", channel).split("\n")[1] ?? 0);

/** `GET /health/ready`'s status for a running server. */
export async function readiness(url: string): Promise<number> {
  const response = await fetch(`${url}/health/ready`);
  await response.text();
  return response.status;
}

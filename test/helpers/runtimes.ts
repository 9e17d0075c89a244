/**
 * The three runtimes and the commands that serve with each: the same as `npm run
 * server`, `npx deno task start` and `npm start`. Shared by the tests and the benchmarks, so
 * both always run what a user runs. No heavy imports: the benchmark driver loads it too.
 */
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = `${ROOT}node_modules/.bin`;

export const RUNTIMES = ["bun", "deno", "node"] as const;
export type Runtime = (typeof RUNTIMES)[number];

/**
 * Node itself, from PATH: under `bun test`, process.execPath is Bun, which would run the
 * "node" entry point on Bun and test nothing of Node.
 */
export const NODE = "node";

export const SERVER_COMMANDS: Record<Runtime, readonly string[]> = {
  bun: [`${BIN}/bun`, "src/entry/bun.ts"],
  deno: [`${BIN}/deno`, "run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", "src/entry/deno.ts"],
  node: [NODE, "--import", "tsx", "src/entry/node.ts"],
};

/**
 * What the black-box suites serve with: each runtime's own HTTP server (`Bun.serve`,
 * node:http, `Deno.serve`), one kind each.
 */
export const SERVERS = RUNTIMES;
/** Every server kind sse-server ships: the defaults, and Deno through its node:http (`SSE_DENO_SERVER=node`). */
export const ALL_SERVERS = [...RUNTIMES, "deno-node"] as const;
export type ServerKind = (typeof ALL_SERVERS)[number];

/** The runtime a kind of server runs on, and the environment that selects it. */
export const SERVER_KINDS: Record<ServerKind, { readonly runtime: Runtime; readonly env: Record<string, string> }> = {
  bun: { runtime: "bun", env: {} },
  deno: { runtime: "deno", env: {} },
  node: { runtime: "node", env: {} },
  "deno-node": { runtime: "deno", env: { SSE_DENO_SERVER: "node" } },
};

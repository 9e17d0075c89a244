/**
 * Real Caddy (Debian's package) as a reverse proxy in front of a test server: a generated
 * Caddyfile in a temp dir, loopback only, no admin endpoint, plain HTTP; stopped after.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnProcess, whenAnswering, type RunningProxy } from "./process.ts";
import { freePort } from "./redis.ts";

export const CADDY = "/usr/bin/caddy";

/** Fails (never skips) when Caddy is missing: test/ensure-system-deps.sh installs it. */
export function requireCaddy(): void {
  try {
    execFileSync(CADDY, ["version"], { stdio: "ignore" });
  } catch {
    throw new Error(`${CADDY} not found: run test/ensure-system-deps.sh (installs caddy)`);
  }
}

/** `site` is the body of the site block; `{upstream}` in it becomes `127.0.0.1:<upstreamPort>`. */
export async function startCaddy(upstreamPort: number, site: string): Promise<RunningProxy> {
  requireCaddy();
  const dir = mkdtempSync(join(tmpdir(), "sse-caddy-"));
  const port = await freePort();
  const config = `{
  admin off
  auto_https off
  storage file_system ${dir}/data
}
http://127.0.0.1:${port} {
${site.replaceAll("{upstream}", `127.0.0.1:${upstreamPort}`)}
}
`;
  writeFileSync(join(dir, "Caddyfile"), config);
  const caddy = spawnProcess([CADDY, "run", "--adapter", "caddyfile", "--config", join(dir, "Caddyfile")], {
    env: { HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
  });
  const url = `http://127.0.0.1:${port}`;
  return whenAnswering("caddy", caddy, url, url, dir, config);
}

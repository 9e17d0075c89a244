/**
 * Runs the project's SSE server as a child process (under the project's own Bun, so a
 * fresh `npm ci` is enough) and learns its port from the first log line,
 * `{"msg":"listening","port":N}`, as PORT=0 lets it pick a free one.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BUN = `${ROOT}node_modules/.bin/bun`;

export interface SseProcessOptions {
  readonly secretHex: string;
  readonly host: string;
  /** Each line the server logs (JSON), e.g. to show it with a prefix. */
  readonly onLog?: (line: string) => void;
  readonly startTimeoutMs?: number;
}

export interface SseProcess {
  readonly url: string;
  /** Resolves with the exit code (or signal name) whenever the server exits. */
  readonly exited: Promise<number | string>;
  /** SIGTERM (the server's clean shutdown), SIGKILL if it lingers. */
  stop(): Promise<number | string>;
}

export function startSseProcess(options: SseProcessOptions): Promise<SseProcess> {
  const child = spawn(BUN, ["src/entry/bun.ts"], {
    cwd: ROOT,
    env: { ...process.env, SSE_SECRET: options.secretHex, PORT: "0", HOST: options.host, BASE_PATH: "/" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
    const code = await exited;
    clearTimeout(kill);
    return code;
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error("the SSE server did not start in time"));
    }, options.startTimeoutMs ?? 20_000);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the SSE server exited (${code}) before listening`));
    });
    let partial = "";
    child.stdout.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        options.onLog?.(line);
        const port = listeningPort(line);
        if (port === undefined) continue;
        clearTimeout(timer);
        resolve({ url: `http://${hostForUrl(options.host)}:${port}`, exited, stop });
      }
    });
  });
}

function listeningPort(line: string): number | undefined {
  try {
    const entry = JSON.parse(line) as { msg?: unknown; port?: unknown };
    return entry.msg === "listening" && typeof entry.port === "number" ? entry.port : undefined;
  } catch {
    return undefined;
  }
}

/** An IPv6 literal needs brackets in a URL. */
export const hostForUrl = (host: string) => (host.includes(":") ? `[${host}]` : host);

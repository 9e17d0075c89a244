/**
 * Records a V8 CPU profile of a process started with `--inspect=HOST:PORT`, for runtimes
 * without `--cpu-prof` (Deno), through the inspector's Chrome DevTools Protocol. Started by
 * bench/run.ts with Bun (which has a WebSocket client; the driver's Node 20 has none):
 *
 *   bun bench/inspector-profile.ts HOST:PORT OUT.cpuprofile
 *
 * Prints "recording" once the profiler runs; stops and writes OUT when its stdin closes
 * (also when the driver dies), then exits.
 */
import process from "node:process";

const [address, out] = process.argv.slice(2);
if (!address || !out) throw new Error("usage: inspector-profile HOST:PORT OUT.cpuprofile");

/** The inspector lists its targets over HTTP; it may need a moment after the process starts. */
async function debuggerUrl(): Promise<string> {
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const targets = (await (await fetch(`http://${address}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
      if (targets[0]) return targets[0].webSocketDebuggerUrl;
    } catch {
      // not listening yet
    }
    await Bun.sleep(100);
  }
  throw new Error(`no inspector at ${address}`);
}

const socket = new WebSocket(await debuggerUrl());
await new Promise((resolve, reject) => {
  socket.onopen = resolve;
  socket.onerror = () => reject(new Error(`inspector at ${address} refused the connection`));
});
const answers = new Map<number, (result: unknown) => void>();
socket.onmessage = (message) => {
  const { id, result } = JSON.parse(String(message.data)) as { id?: number; result?: unknown };
  if (id !== undefined) answers.get(id)?.(result);
};
let lastId = 0;
function call<T>(method: string, params: object = {}): Promise<T> {
  const id = ++lastId;
  return new Promise((resolve) => {
    answers.set(id, resolve as (result: unknown) => void);
    socket.send(JSON.stringify({ id, method, params }));
  });
}

await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 500 }); // µs, as Node's --cpu-prof-interval default
await call("Profiler.start");
console.log("recording");
for await (const _ of process.stdin) {
  // recording until stdin closes
}
const { profile } = await call<{ profile: unknown }>("Profiler.stop");
await Bun.write(out, JSON.stringify(profile));
console.error(`wrote ${out}`);
socket.close();
process.exit(0);

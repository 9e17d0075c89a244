/**
 * Several clients posting the same body to `submit` back to back, as an unauthenticated
 * flood would: bounded in time and in requests. Resolves with the count of each status.
 */
import { postSubmit, type RunningServer } from "./server.ts";

export interface FloodOptions {
  readonly clients: number;
  readonly durationMs: number;
  readonly maxRequests?: number;
}

export async function floodSubmit(server: RunningServer, body: string, options: FloodOptions): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  const deadline = Date.now() + options.durationMs;
  let budget = options.maxRequests ?? 10_000;
  await Promise.all(
    Array.from({ length: options.clients }, async () => {
      while (Date.now() < deadline && budget-- > 0) {
        const response = await postSubmit(server, body);
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      }
    }),
  );
  return statuses;
}

/**
 * For a worker's entry module, imported before anything else: holds the messages that
 * arrive while the worker's other modules load. The token codec waits for libsodium as it
 * loads (a top-level await), and a Web Worker drops a message that arrives while it has no
 * listener; a module without such waits is evaluated first, so this listener is on in time.
 */
const held: unknown[] = [];
const hold = (event: MessageEvent) => void held.push(event.data);
addEventListener("message", hold);

/** Stops holding; what arrived so far, in order. */
export function releaseEarlyMessages(): readonly unknown[] {
  removeEventListener("message", hold);
  return held;
}

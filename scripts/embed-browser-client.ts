/**
 * Writes src/browser/client-source.ts: the browser client's text as a string constant, so
 * the server can serve it (`GET client.js`) on every runtime and from the compiled binary
 * without reading a file. test/browser/client-route.test.ts fails when it is stale.
 * Run: bun scripts/embed-browser-client.ts
 */
import { readFileSync, writeFileSync } from "node:fs";

const root = new URL("../", import.meta.url);
const source = readFileSync(new URL("src/browser/client.js", root), "utf8");
const module = `// Generated from ./client.js by scripts/embed-browser-client.ts; do not edit.
/** The browser client's source, served as \`GET client.js\`. */
export const CLIENT_SOURCE: string = ${JSON.stringify(source)};
`;
writeFileSync(new URL("src/browser/client-source.ts", root), module);

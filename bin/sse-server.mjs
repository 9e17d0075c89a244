#!/usr/bin/env node
// The `sse-server` command for npm installs: the TypeScript sources run through tsx.
// Under Bun or Deno, run src/cli.ts directly; or build the single binary (`npm run build`).
import { register } from "tsx/esm/api";

register();
await import("../src/cli.ts");

/**
 * Writes src/dashboard/page-source.ts: the dashboard page (src/dashboard/page.html with
 * page.css and page.js inlined) as a string constant, with the hashes its
 * Content-Security-Policy allows, so the server serves it on every runtime and from the
 * compiled binary without reading a file. test/dashboard.test.ts fails when it is stale.
 * Run: bun scripts/embed-dashboard.ts
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

const root = new URL("../", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), "utf8");
const sha256 = (text: string) => `sha256-${createHash("sha256").update(text, "utf8").digest("base64")}`;

/** The generated module's text, from the page's three files as they are now. */
export function dashboardModule(): string {
  const style = read("src/dashboard/page.css");
  const script = read("src/dashboard/page.js");
  if (script.includes("</script")) throw new Error("page.js must not contain </script");
  const page = read("src/dashboard/page.html").split("/*STYLE*/").join(style).split("/*SCRIPT*/").join(script);
  return `// Generated from ./page.html, ./page.css and ./page.js by scripts/embed-dashboard.ts; do not edit.
/** The dashboard page, served as \`GET dashboard\`. */
export const DASHBOARD_PAGE: string = ${JSON.stringify(page)};
/** The CSP source of the page's one inline script. */
export const DASHBOARD_SCRIPT_HASH = ${JSON.stringify(sha256(script))};
/** The CSP source of the page's one inline style sheet. */
export const DASHBOARD_STYLE_HASH = ${JSON.stringify(sha256(style))};
`;
}

if (import.meta.main) writeFileSync(new URL("src/dashboard/page-source.ts", root), dashboardModule());

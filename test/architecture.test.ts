/**
 * The rules ARCHITECTURE.md states about how src/ is put together, checked on the code:
 * every file under src/ is parsed with the TypeScript compiler (no regexes over source
 * text, so comments and strings never count), its imports and runtime globals collected,
 * and the import graph checked. A failure names the file, line and edge that break a rule.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { ROOT } from "./helpers/runtimes.ts";

/** Runtime-specific modules: thin adapters and entry points. Everything else is the portable core. */
const isRuntimeSpecific = (path: string) =>
  path.startsWith("src/entry/") || path.startsWith("src/listen/") || path === "src/cli.ts";

/** The node: modules the core may import: ones Bun, Deno and Node all provide. */
const PORTABLE_NODE_MODULES = ["node:buffer", "node:crypto", "node:process"];

/** Packages and specifiers that exist on one runtime only. */
const RUNTIME_ONLY_PACKAGES = [/^bun(:|\/|$)/, /^@hono\/node-server(\/|$)/, /^tsx(\/|$)/, /^(jsr|npm|https?):/];

/** Globals of one runtime (or of CommonJS, which Deno lacks): never in the core. */
const RUNTIME_GLOBALS = ["Bun", "Deno", "require", "__dirname", "__filename"];
/** Node globals the other runtimes also have, which the core reaches through their node: module only. */
const IMPORTED_GLOBALS: Record<string, string> = { process: "node:process", Buffer: "node:buffer" };

const isRedisCode = (target: string) =>
  target === "src/transport/redis.ts" || target.startsWith("src/transport/redis/") || /^(@redis\/|redis$|ioredis$)/.test(target);

interface ModuleEdge {
  readonly line: number;
  readonly kind: "import" | "import type" | "export from" | "dynamic import" | "type import()";
  /** As written; undefined when it is no literal (nor a const string) and so cannot be followed. */
  readonly specifier: string | undefined;
  /** A file under src/ for a relative specifier, else the specifier itself. */
  readonly target: string | undefined;
}

interface SourceModule {
  readonly path: string;
  readonly edges: readonly ModuleEdge[];
  /** Names bound by import declarations. */
  readonly importedNames: ReadonlySet<string>;
  /** Uses of a watched global: the name and line. */
  readonly globals: readonly { readonly name: string; readonly line: number }[];
  /** `new URL("…", import.meta.url)`: modules loaded by URL (worker entry points), resolved. */
  readonly moduleUrls: readonly { readonly line: number; readonly target: string }[];
}

const WATCHED_GLOBALS = new Set([...RUNTIME_GLOBALS, ...Object.keys(IMPORTED_GLOBALS)]);

function scan(path: string): SourceModule {
  const text = readFileSync(join(ROOT, path), "utf8");
  const kind = path.endsWith(".ts") ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, kind);
  const lineOf = (node: ts.Node) => file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1;
  const resolveTarget = (specifier: string) =>
    specifier.startsWith(".") ? relative(ROOT, resolve(ROOT, dirname(path), specifier)) : specifier;

  // `const name = "./x.ts"`: a computed import specifier that is still known statically.
  const constants = new Map<string, string>();
  const collectConstants = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer && ts.isStringLiteralLike(node.initializer)) {
      constants.set(node.name.text, node.initializer.text);
    }
    ts.forEachChild(node, collectConstants);
  };
  collectConstants(file);

  const edges: ModuleEdge[] = [];
  const importedNames = new Set<string>();
  const globals: { name: string; line: number }[] = [];
  const moduleUrls: { line: number; target: string }[] = [];
  const edge = (node: ts.Node, kind: ModuleEdge["kind"], specifier: string | undefined) =>
    edges.push({ line: lineOf(node), kind, specifier, target: specifier === undefined ? undefined : resolveTarget(specifier) });
  const literal = (node: ts.Node | undefined): string | undefined => {
    if (node && ts.isStringLiteralLike(node)) return node.text;
    if (node && ts.isIdentifier(node)) return constants.get(node.text);
    return undefined;
  };

  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      edge(node, clause?.isTypeOnly ? "import type" : "import", literal(node.moduleSpecifier));
      if (clause?.name) importedNames.add(clause.name.text);
      const bindings = clause?.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) importedNames.add(bindings.name.text);
      if (bindings && ts.isNamedImports(bindings)) for (const element of bindings.elements) importedNames.add(element.name.text);
      return; // the bound names are declarations, not uses of globals
    }
    if (ts.isExportDeclaration(node) && node.moduleSpecifier) edge(node, "export from", literal(node.moduleSpecifier));
    if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      edge(node, "import", literal(node.moduleReference.expression));
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      edge(node, "dynamic import", literal(node.arguments[0]));
    }
    if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) edge(node, "type import()", literal(node.argument.literal));
    if (ts.isIdentifier(node) && WATCHED_GLOBALS.has(node.text) && isGlobalReference(node)) {
      globals.push({ name: node.text, line: lineOf(node) });
    }
    // `"Bun" in globalThis`, `globalThis["Deno"]`: a runtime probed by name.
    if (ts.isStringLiteralLike(node) && RUNTIME_GLOBALS.includes(node.text)) {
      const parent = node.parent;
      const probed =
        (ts.isBinaryExpression(parent) && parent.operatorToken.kind === ts.SyntaxKind.InKeyword && parent.left === node) ||
        (ts.isElementAccessExpression(parent) && parent.argumentExpression === node);
      if (probed) globals.push({ name: node.text, line: lineOf(node) });
    }
    if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "URL") {
      const [url, base] = node.arguments ?? [];
      const target = literal(url);
      if (target !== undefined && base?.getText(file) === "import.meta.url") moduleUrls.push({ line: lineOf(node), target: resolveTarget(target) });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return { path, edges, importedNames, globals, moduleUrls };
}

/** An identifier that names a global, not a property or a key of something else. */
function isGlobalReference(node: ts.Identifier): boolean {
  const parent = node.parent;
  if (ts.isPropertyAccessExpression(parent) && parent.name === node) return false;
  if (ts.isQualifiedName(parent) && parent.right === node) return false;
  if ((ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent) || ts.isMethodDeclaration(parent)) && parent.name === node) return false;
  if (ts.isPropertySignature(parent) && parent.name === node) return false;
  return true;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|js|mjs)$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

const modules = new Map(sourceFiles("src").map((path) => [path, scan(path)]));
const core = [...modules.values()].filter((m) => !isRuntimeSpecific(m.path));
const at = (m: SourceModule, item: { line: number }) => `${m.path}:${item.line}`;
const describeEdge = (m: SourceModule, e: ModuleEdge) => `${at(m, e)} ${e.kind} "${e.specifier}"`;

/** Why a core module may not import `specifier` (undefined: it may). */
function runtimeOnly(specifier: string, target: string): string | undefined {
  if (specifier.startsWith("node:")) {
    return PORTABLE_NODE_MODULES.includes(specifier) ? undefined : `a node: module not on the portable list (${PORTABLE_NODE_MODULES.join(", ")})`;
  }
  if (builtinModules.includes(specifier.split("/")[0]!)) return "a Node built-in without the node: prefix (Deno needs it)";
  if (RUNTIME_ONLY_PACKAGES.some((pattern) => pattern.test(specifier))) return "a runtime-only module";
  if (isRuntimeSpecific(target)) return "an entry point or listen adapter";
  return undefined;
}

/** The path of imports from `from` to every module it reaches, static, type-only or dynamic. */
function reachable(from: string): Map<string, string[]> {
  const paths = new Map<string, string[]>([[from, [from]]]);
  const queue = [from];
  while (queue.length > 0) {
    const path = queue.shift()!;
    for (const e of modules.get(path)?.edges ?? []) {
      if (e.target === undefined || paths.has(e.target)) continue;
      paths.set(e.target, [...paths.get(path)!, `(${e.kind}) ${e.target}`]);
      if (modules.has(e.target)) queue.push(e.target);
    }
  }
  return paths;
}

describe("the import scanner", () => {
  const edge = (from: string, target: string) => modules.get(from)?.edges.find((e) => e.target === target)?.kind;

  test("sees static, type-only, re-exported, dynamic and computed imports, in .ts and .mjs", () => {
    expect(edge("src/app.ts", "hono")).toBe("import");
    expect(edge("src/stream.ts", "src/hub.ts")).toBe("import type");
    expect(edge("src/token/index.ts", "src/token/branca.ts")).toBe("export from");
    expect(edge("src/transport/index.ts", "src/transport/redis.ts")).toBe("dynamic import");
    expect(edge("src/cli.ts", "src/listen/deno.ts")).toBe("dynamic import"); // through a const
    expect(edge("src/entry/token-worker-node.mjs", "node:worker_threads")).toBe("import");
    expect(edge("src/entry/token-worker-node.mjs", "src/token/worker.ts")).toBe("dynamic import");
  });

  test("sees runtime globals in code (not in comments or strings), and runtimes probed by name", () => {
    const names = (path: string) => new Set(modules.get(path)?.globals.map((g) => g.name));
    expect(names("src/listen/bun.ts").has("Bun")).toBe(true);
    expect(names("src/listen/deno.ts").has("Deno")).toBe(true);
    expect(names("src/cli.ts")).toEqual(new Set(["process", "Bun", "Deno"]));
    // config.ts names Deno.serve in a comment and a message only.
    expect(names("src/config.ts").size).toBe(0);
  });

  test("every import in src/ is followed: a known specifier, and a relative one names an existing file", () => {
    const unfollowed = [...modules.values()].flatMap((m) =>
      m.edges
        .filter((e) => e.target === undefined || (e.specifier!.startsWith(".") && !modules.has(e.target)))
        .map((e) => describeEdge(m, e)),
    );
    expect(unfollowed).toEqual([]);
  });

  test("every module loaded by URL (a worker's entry point) exists", () => {
    const missing = [...modules.values()].flatMap((m) =>
      m.moduleUrls.filter((u) => !existsSync(join(ROOT, u.target))).map((u) => `${at(m, u)} new URL → ${u.target}`),
    );
    expect(modules.get("src/listen/node-worker.ts")?.moduleUrls.map((u) => u.target)).toEqual(["src/entry/token-worker-node.mjs"]);
    expect(missing).toEqual([]);
  });
});

describe("architecture rules (ARCHITECTURE.md)", () => {
  test("the portable core uses no runtime global and imports no runtime-only module, entry point or listen adapter", () => {
    expect(core.length).toBeGreaterThan(20);
    const violations = core.flatMap((m) => [
      ...m.edges.flatMap((e) => {
        const why = e.specifier === undefined ? undefined : runtimeOnly(e.specifier, e.target!);
        return why ? [`${describeEdge(m, e)}: ${why}`] : [];
      }),
      ...m.globals.flatMap((g) => {
        const module = IMPORTED_GLOBALS[g.name];
        if (module === undefined) return [`${at(m, g)} uses the global ${g.name}`];
        return m.importedNames.has(g.name) ? [] : [`${at(m, g)} uses the global ${g.name} (import it from ${module})`];
      }),
    ]);
    expect(violations).toEqual([]);
  });

  test("the HTTP app never imports Redis code, not even lazily or for a type", () => {
    const paths = reachable("src/app.ts");
    expect(paths.has("src/transport/transport.ts")).toBe(true);
    const redis = [...paths].filter(([target]) => isRedisCode(target)).map(([, path]) => path.join(" → "));
    expect(redis).toEqual([]);
  });

  test("entry points are leaves: nothing in src/ imports src/entry/*", () => {
    const violations = [...modules.values()].flatMap((m) =>
      m.edges.filter((e) => e.target?.startsWith("src/entry/")).map((e) => `${describeEdge(m, e)} → ${e.target}`),
    );
    expect(violations).toEqual([]);
  });

  test("ARCHITECTURE.md names every module of src/ and the test of every rule", () => {
    const page = readFileSync(join(ROOT, "ARCHITECTURE.md"), "utf8");
    const paths = page.replaceAll("src/", "");
    // Named by its path under src/, as a whole: `redis/history.ts` does not name `history.ts`.
    const names = (path: string) => new RegExp(`(?<![\\w./-])${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![\\w])`).test(paths);
    const unnamed = [...modules.keys()].filter((path) => !names(path.slice("src/".length)));
    expect(unnamed).toEqual([]);
    const tests = readFileSync(join(ROOT, "test/architecture.test.ts"), "utf8") + readFileSync(join(ROOT, "test/hub.test.ts"), "utf8");
    for (const title of RULE_TESTS) {
      expect(page).toContain(title);
      expect(tests).toContain(`test("${title}"`);
    }
  });
});

/** The rule tests ARCHITECTURE.md cites by title (the last one lives in test/hub.test.ts). */
const RULE_TESTS = [
  "the portable core uses no runtime global and imports no runtime-only module, entry point or listen adapter",
  "the HTTP app never imports Redis code, not even lazily or for a type",
  "entry points are leaves: nothing in src/ imports src/entry/*",
  "an event is encoded once, whatever the number of its subscribers",
];

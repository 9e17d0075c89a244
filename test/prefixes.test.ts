import { describe, expect, test } from "bun:test";
import { normalizeGrants, PrefixIndex, prefixIndexOf } from "../src/prefixes.ts";

describe("normalizeGrants", () => {
  test("topics only: deduped, in first-named order, no prefixes", () => {
    expect(normalizeGrants(["b", "a", "b"], [])).toEqual({ topics: ["b", "a"], prefixes: [] });
  });

  test("drops topics under a prefix and prefixes under a shorter one, keeping the first-named order", () => {
    const grants = normalizeGrants(["a/x", "b", "a/", "ab"], ["a/b/", "c:", "a/", "a/b/", "a/bc"]);
    // "a/" is itself a topic under the prefix "a/"; "ab" is not under "a/".
    expect(grants).toEqual({ topics: ["b", "ab"], prefixes: ["c:", "a/"] });
  });

  test("the union of granted topics is unchanged", () => {
    const topics = ["u/1", "u/12", "v", "w/x/y"];
    const prefixes = ["u/1", "w/", "w/x/", "z"];
    const grants = normalizeGrants(topics, prefixes);
    const granted = (t: string, g: { topics: readonly string[]; prefixes: readonly string[] }) =>
      g.topics.includes(t) || g.prefixes.some((p) => t.startsWith(p));
    for (const t of ["u/1", "u/12", "u/2", "v", "w", "w/", "w/x/y", "z", "za", "y"]) {
      expect({ t, granted: granted(t, grants) }).toEqual({ t, granted: granted(t, { topics, prefixes }) });
    }
  });
});

describe("PrefixIndex", () => {
  test("collects every registered prefix of a topic, shortest first, and only those", () => {
    const index = new PrefixIndex<string>();
    for (const p of ["a", "a/", "a/b/", "b/", "a/c", "a/b/c/d"]) index.set(p, `<${p}>`);
    const out: string[] = [];
    const found = index.collect("a/b/c", out);
    expect(out.slice(0, found)).toEqual(["<a>", "<a/>", "<a/b/>"]);
    expect(index.collect("a/b/", out)).toBe(3); // a prefix equal to the whole topic matches
    expect(index.collect("zzz", out)).toBe(0);
    expect(index.collect("", out)).toBe(0);
  });

  test("deleting the last prefix of a length stops probing it; others of that length stay", () => {
    const index = new PrefixIndex<number>();
    index.set("ab", 1);
    index.set("cd", 2);
    index.set("abc", 3);
    index.delete("ab");
    const out: number[] = [];
    expect(out.slice(0, index.collect("abcd", out))).toEqual([3]);
    expect(out.slice(0, index.collect("cdx", out))).toEqual([2]);
    index.delete("cd");
    index.delete("abc");
    index.delete("abc"); // twice is harmless
    expect(index.size).toBe(0);
    expect(index.collect("abcd", out)).toBe(0);
  });

  test("matchesAny: a topic under a registered prefix, or equal to one; not a shorter one", () => {
    const index = prefixIndexOf(["ab/", "x"]);
    expect(["ab/", "ab/c", "x", "xyz"].map((t) => index.matchesAny(t))).toEqual([true, true, true, true]);
    expect(["ab", "a", "", "yx", "Ab/"].map((t) => index.matchesAny(t))).toEqual([false, false, false, false, false]);
  });

  test("10,000 prefixes that do not match: none collected, the matching one found", () => {
    const index = new PrefixIndex<string>();
    for (let i = 0; i < 10_000; i++) index.set(`user-${i}/`, `u${i}`);
    const out: string[] = [];
    expect(out.slice(0, index.collect("user-4242/inbox", out))).toEqual(["u4242"]);
    expect(index.collect("other/inbox", out)).toBe(0);
  });
});

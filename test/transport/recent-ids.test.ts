import { describe, expect, test } from "bun:test";
import { RecentIds } from "../../src/transport/recent-ids.ts";

describe("RecentIds", () => {
  test("an id is taken once within its TTL, and again after it", () => {
    let now = 0;
    const ids = new RecentIds(10, () => now);
    expect(ids.claim("a", 1000)).toBe(true);
    expect(ids.claim("a", 1000)).toBe(false);
    expect(ids.claim("b", 1000)).toBe(true);
    now = 999;
    expect(ids.claim("a", 1000)).toBe(false);
    now = 1000;
    expect(ids.claim("a", 1000)).toBe(true);
    expect(ids.claim("a", 1000)).toBe(false);
  });

  test("expired ids are forgotten as new ones come, so the map holds only live ones", () => {
    let now = 0;
    const ids = new RecentIds(1000, () => now);
    for (let i = 0; i < 100; i++) ids.claim(`old-${i}`, 50);
    now = 50;
    ids.claim("new", 50);
    expect(ids.size).toBe(1);
  });

  test("past its capacity the oldest id is forgotten first", () => {
    const ids = new RecentIds(3, () => 0);
    for (const id of ["a", "b", "c", "d"]) expect(ids.claim(id, 1000)).toBe(true);
    expect(ids.size).toBe(3);
    expect(ids.claim("b", 1000)).toBe(false);
    expect(ids.claim("d", 1000)).toBe(false);
    expect(ids.claim("a", 1000)).toBe(true); // forgotten: taken again (and "c" now the oldest)
    expect(ids.claim("c", 1000)).toBe(false);
  });
});

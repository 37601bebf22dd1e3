import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../../bin/allot.mjs", import.meta.url));

function allot(args: string[], input: string) {
  const r = spawnSync(process.execPath, [bin, ...args], { input, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("allot allocate", () => {
  it("prints the optimal allocation for the README example", () => {
    const r = allot(["allocate"], '{"budget":5,"max":4,"queries":[{"id":"a","p":0.5},{"id":"b","p":0.05}]}');
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.allocation).toEqual([{ id: "a", units: 4 }, { id: "b", units: 1 }]);
    expect(out.used).toBe(5);
    expect(out.objective).toBeCloseTo(0.9875, 12);
  });

  it("takes marginals with per-query min and max overrides", () => {
    const r = allot(
      ["allocate"],
      JSON.stringify({
        budget: 6,
        min: 1,
        queries: [
          { id: "x", marginals: [0.6, 0.3, 0.1], max: 2 },
          { id: "y", marginals: [0.2, 0.15, 0.12, 0.11], min: 2 },
        ],
      }),
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).allocation).toEqual([{ id: "x", units: 2 }, { id: "y", units: 4 }]);
  });

  it.each([
    ["infeasible budget", '{"budget":1,"min":1,"max":4,"queries":[{"id":"a","p":0.5},{"id":"b","p":0.5}]}', "budget"],
    ["malformed JSON", '{"budget":', "not valid JSON"],
    ["NaN is not JSON", '{"budget":3,"queries":[{"id":"a","marginals":[NaN]}]}', "not valid JSON"],
    ["a non-numeric gain", '{"budget":3,"queries":[{"id":"a","marginals":[0.5,"high"]}]}', "queries[0].marginals[1]"],
    ["a negative budget", '{"budget":-1,"queries":[]}', "budget"],
    ["p out of range", '{"budget":3,"max":2,"queries":[{"id":"a","p":-0.1}]}', "queries[0].p"],
    ["p without max", '{"budget":3,"queries":[{"id":"a","p":0.3}]}', "queries[0].max"],
    ["a misspelt field", '{"budget":3,"queries":[{"id":"a","margnals":[0.5]}]}', "queries[0]"],
  ])("exits 2 on %s, naming the field, with nothing on stdout", (_what, input, field) => {
    const r = allot(["allocate"], input);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(field);
  });

  it("exits 2 on an unknown command", () => {
    const r = allot(["allocat"], "");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "allocat"');
  });
});

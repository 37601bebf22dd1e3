/**
 * The runtime boundaries of the source tree, checked from the imports themselves:
 *   src/core/    pure code and fetch-only clients: runs in the Worker, in Node and in tests;
 *   src/worker/  the Worker (workerd): core and itself, no Node-only module;
 *   src/node/    the CLI, the pipeline, the reference LM, the harness: core and itself,
 *                never the Worker's code (it reaches the gateway over HTTP);
 *   bench/, tools/ are Node programs that may use src/node and src/core, not test/.
 * A Node import in the Worker tree would otherwise be found only by the deploy dry-run.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) return sources(path);
    return /\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith(".client.js") ? [path] : [];
  });
}

/** Every module a file imports: bare package names, node:/cloudflare: built-ins, and repo paths for relative ones. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), "utf8");
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|(?:^|\n)\s*import\s+["']([^"']+)["']/g)].map((m) => m[1] ?? m[2] ?? m[3]);
  return specs.map((s) => (s.startsWith(".") ? relative(root, resolve(root, dirname(file), s)) : s));
}

/** Packages and built-ins that only Node has (workerd's nodejs_compat aside, the Worker uses none). */
const NODE_ONLY = /^(node:|onnxruntime-node|@hono\/node-server|wrangler|tsx|puppeteer-core|highs|vitest|fast-check)/;

const rules: { tree: string; forbid: (spec: string) => string | null }[] = [
  {
    tree: "src/core",
    forbid: (s) =>
      s.startsWith("src/worker") || s.startsWith("src/node") ? "core imports no runtime's tree" : /^(node:|cloudflare:|onnxruntime)/.test(s) || NODE_ONLY.test(s) ? "core uses no platform API" : null,
  },
  { tree: "src/worker", forbid: (s) => (s.startsWith("src/node") ? "the Worker imports no Node code" : NODE_ONLY.test(s) ? "a Node-only module in the Worker" : null) },
  { tree: "src/node", forbid: (s) => (s.startsWith("src/worker") ? "Node code reaches the Worker over HTTP, not by import" : s.startsWith("cloudflare:") ? "a Workers-only module in Node code" : null) },
  { tree: "bench", forbid: (s) => (s.startsWith("test/") || s.startsWith("src/worker") ? "benchmarks use src/node and src/core, not tests or the Worker's code" : null) },
  { tree: "tools", forbid: (s) => (s.startsWith("test/") || s.startsWith("src/worker") ? "tools use src/node and src/core, not tests or the Worker's code" : null) },
];

describe("runtime boundaries", () => {
  for (const rule of rules) {
    it(`${rule.tree} keeps to its runtime`, () => {
      const files = sources(rule.tree);
      expect(files.length).toBeGreaterThan(0);
      const broken = files.flatMap((f) => importsOf(f).flatMap((s) => {
        const why = rule.forbid(s);
        return why ? [`${f} imports ${s}: ${why}`] : [];
      }));
      expect(broken).toEqual([]);
    });
  }

  it("sees a forbidden import when there is one (the rule is not vacuous)", () => {
    expect(rules[1].forbid("node:fs")).not.toBeNull();
    expect(rules[1].forbid("src/node/cli/main.ts")).not.toBeNull();
    expect(rules[0].forbid("src/worker/env.ts")).not.toBeNull();
    expect(rules[2].forbid("src/worker/app.ts")).not.toBeNull();
    expect(rules[1].forbid("src/core/allocation/batch.ts")).toBeNull();
    expect(importsOf("src/worker/index.ts")).toContain("src/worker/app.js");
  });
});

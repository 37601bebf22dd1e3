// Hostile and malformed bodies against every route that takes one: whatever arrives, the
// answer is a response in the error envelope or a success, never a 500 (seeded, so a
// failure reproduces).
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../src/core/allocation/select.js";
import { ADMIN, call, newTenant } from "./support.js";

const VALID: Record<string, unknown> = {
  "/v1/allocate": { budget: 6, max: 4, queries: [{ id: "a", p: 0.5 }, { id: "b", marginals: [0.3, 0.1] }] },
  "/v1/completions": { model: "strong", prompt: "12+34=", max_tokens: 8 },
  "/v1/chat/completions": { model: "strong", messages: [{ role: "user", content: "12+34=" }], max_completion_tokens: 8 },
  "/v1/batches": { prompts: [{ id: "a", prompt: "1+1=" }], allocation: "uniform", budget: { average: 1 } },
  "/admin/tenants": { name: "fuzz", budget: { day: 10 } },
  "/v1/responses": { model: "strong", input: [{ role: "user", content: "12+34=" }], max_output_tokens: 8 },
  "/v1/feedback": { response_id: `chatcmpl-${"0".repeat(48)}`, reward: 0.5, comment: "ok" },
};

/** A random JSON value of a random shape, with the edge values parsers trip on. */
function randomValue(rand: () => number, depth = 0): unknown {
  const pick = Math.floor(rand() * 12);
  const edges = [0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, 1e-320, -0];
  switch (pick) {
    case 0: return null;
    case 1: return rand() < 0.5;
    case 2: return edges[Math.floor(rand() * edges.length)];
    case 3: return Math.floor(rand() * 2e9) - 1e9;
    case 4: return "x".repeat(Math.floor(rand() * 3) === 0 ? 100_000 : Math.floor(rand() * 20));
    case 5: return ["", "\u0000", "💥", "<script>", "NaN", "-1", "ak_0000000000000000_00000000_"][Math.floor(rand() * 7)];
    case 6: return depth > 4 ? [] : Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth + 1));
    case 7: return depth > 4 ? {} : Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, (_, i) => [["model", "prompt", "n", "id", "__proto__", "constructor", "p"][i % 7], randomValue(rand, depth + 1)]));
    case 8: return Array.from({ length: 2_000 }, () => 0.5);
    default: return { nested: depth > 6 ? 1 : randomValue(rand, depth + 1) };
  }
}

/** A valid body with some fields replaced, dropped or added; or no JSON at all. */
function mutate(rand: () => number, valid: unknown): string {
  if (rand() < 0.1) return ["", "{", "[]", "null", "\"text\"", "{\"a\":", "\u0000", "{}".repeat(1000)][Math.floor(rand() * 8)];
  const body = structuredClone(valid) as Record<string, unknown>;
  const keys = Object.keys(body);
  for (let k = 0; k < 1 + Math.floor(rand() * 3); k++) {
    const r = rand();
    const key = keys[Math.floor(rand() * keys.length)];
    if (r < 0.5) body[key] = randomValue(rand);
    else if (r < 0.7) delete body[key];
    else body[`extra${k}`] = randomValue(rand);
  }
  return JSON.stringify(body);
}

describe("fuzzed bodies", () => {
  it.each(Object.keys(VALID))("%s: 150 mutated bodies, no 5xx, every error in the envelope", async (path) => {
    const t = await newTenant();
    const headers = path.startsWith("/admin") ? ADMIN : t.headers;
    const rand = mulberry32(path.length * 7919);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 150; i++) {
      const body = mutate(rand, VALID[path]);
      const res = await call(path, { method: "POST", headers, body });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(res.status, `${path} ${body.slice(0, 200)}`).toBeLessThan(500);
      if (res.status >= 400) {
        const err = (await res.json()) as { error: { type: string; message: string; code: string | null } };
        expect([null, "model_not_found", "context_length_exceeded"]).toContain(err.error.code);
        expect(err.error.message.length).toBeGreaterThan(0);
      } else {
        await res.arrayBuffer();
      }
    }
    // Most mutations are refused, and the fuzzer reached past validation too.
    expect(statuses.get(400) ?? 0).toBeGreaterThan(30);
  });
});

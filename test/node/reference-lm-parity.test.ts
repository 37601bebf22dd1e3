import { readFileSync, readdirSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { LmManifestSchema } from "../../src/node/reference-lm/manifest.js";
import { ReferenceLM } from "../../src/node/reference-lm/model.js";

const dir = new URL("../../models/", import.meta.url);
const names = readdirSync(dir)
  .filter((f) => f.endsWith(".parity.json"))
  .map((f) => f.slice(0, -".parity.json".length));

/**
 * The largest violation of numpy's allclose(rtol=1e-5, atol=1e-5): |a − b| ≤ 1e-5 + 1e-5·|b|.
 * Logits reach ~±20, where float32 rounding alone differs by ~1e-6 relative; the test
 * returns how far past the tolerance the worst element is (≤ 0 passes).
 */
const excess = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let worst = -Infinity;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) - (1e-5 + 1e-5 * Math.abs(b[i])));
  return worst;
};

describe("ONNX export parity with PyTorch", () => {
  it("has fixtures for both models", () => expect(names).toEqual(expect.arrayContaining(["strong", "weak"])));

  for (const name of names) {
    it(`${name}: prefill and a KV-cache step match PyTorch (allclose, rtol = atol = 1e-5)`, async () => {
      const m = LmManifestSchema.parse(JSON.parse(readFileSync(new URL(`${name}.manifest.json`, dir), "utf8")));
      const p = JSON.parse(readFileSync(new URL(`${name}.parity.json`, dir), "utf8"));
      const session = await ort.InferenceSession.create(new URL(m.file, dir).pathname);
      const B = p.prefill_ids.length;
      const T = p.prefill_ids[0].length;
      const empty = new ort.Tensor("float32", new Float32Array(0), [m.layers, B, m.heads, 0, m.head_dim]);
      const ids = (rows: number[][]) => new ort.Tensor("int64", BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);
      const pre = await session.run({ input_ids: ids(p.prefill_ids), past_keys: empty, past_values: empty });
      expect(pre.present_keys.dims).toEqual([m.layers, B, m.heads, T, m.head_dim]);
      expect(excess(pre.logits.data as Float32Array, p.prefill_logits)).toBeLessThanOrEqual(0);
      expect(excess(pre.hidden.data as Float32Array, p.prefill_hidden)).toBeLessThanOrEqual(0);
      const step = await session.run({ input_ids: ids(p.step_ids), past_keys: pre.present_keys, past_values: pre.present_values });
      expect(excess(step.logits.data as Float32Array, p.step_logits)).toBeLessThanOrEqual(0);
      expect(excess(step.hidden.data as Float32Array, p.step_hidden)).toBeLessThanOrEqual(0);
    });
  }

  it("refuses a model file whose sha256 differs from its manifest", async () => {
    const { mkdtempSync, writeFileSync, copyFileSync } = await import("node:fs");
    const tmp = mkdtempSync("/tmp/allot-lm-");
    const manifest = JSON.parse(readFileSync(new URL("weak.manifest.json", dir), "utf8"));
    copyFileSync(new URL("weak.onnx", dir), `${tmp}/weak.onnx`);
    writeFileSync(`${tmp}/weak.manifest.json`, JSON.stringify({ ...manifest, sha256: "0".repeat(64) }));
    await expect(ReferenceLM.load(tmp, "weak")).rejects.toThrow(/sha256/);
  });
});

/**
 * npm run bench:rounds — what the round sizes cost: allot's 1, 1, 2, 4, … samples per
 * round against one sample per round, replayed on the recorded test split (8 random
 * orders of each prompt's 32 samples, every sample looked at paid for) at B = 2, 4, 8, for
 * strong-binary and strong-graded. Quality, samples per prompt, and rounds (round trips to
 * the LM) per prompt. Needs data/strong-{binary,graded}-test.jsonl
 * (tools/build-predictors.sh writes them). "1 per round" is the same planner with every
 * round's slice forced to one sample.
 */
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { readJsonl } from "../src/node/pipeline/jsonl.js";
import { RecordSchema } from "../src/core/predictor/dataset.js";
import { type Belief, priorOf } from "../src/core/allocation/waves.js";
import { type Query, afterRound, planRound, startState } from "../src/core/sequential/index.js";
import { atomsFromCurve } from "../src/core/allocation/pandora.js";
import { mulberry32 } from "../src/core/allocation/select.js";

async function load(name: string, width: number, out: string) {
  const recs = (await readJsonl(`data/${name}-test.jsonl`, RecordSchema)).sort((a, b) => (a.id < b.id ? -1 : 1));
  const s = await ort.InferenceSession.create(`models/predictors/${name}.onnx`);
  const o = (await s.run({ hidden: new ort.Tensor("float32", Float32Array.from(recs.flatMap((r) => r.hidden)), [recs.length, 128]) }))[out].data as Float32Array;
  return recs.map((r, i) => ({ out: Array.from(o.subarray(i * width, i * width + width)), outcomes: r.rewards }));
}
function replay(prompts: { outcomes: number[] }[], belief: (i: number) => Belief, B: number, single: boolean, orders = 8) {
  const rand = mulberry32(1);
  let q = 0, used = 0; const rounds: number[] = [];
  for (let o = 0; o < orders; o++) {
    const order = prompts.map((p) => { const x = [...p.outcomes]; for (let i = x.length - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [x[i], x[j]] = [x[j], x[i]]; } return x; });
    let st: Query[] = prompts.map((_, i) => ({ arms: [{ cost: 1, belief: belief(i), max: 16 }], state: startState(1), min: 1, max: 16 }));
    let left = Math.round(B * prompts.length);
    for (;;) {
      // "1 per round": every round planned as a query's first, so its slice is one sample.
      const draw = planRound(st.map((s) => (single ? { ...s, state: { ...s.state, rounds: 0 } } : s)), { budget: left });
      if (draw.every((d) => d === null)) break;
      st = st.map((s, i) => { const d = draw[i]; if (!d) return s; left -= d.count; const from = s.state.drawn[0]; return { ...s, state: afterRound(s.arms, s.state, 0, order[i].slice(from, from + d.count)) }; });
    }
    st.forEach(({ state: s }) => { q += s.best; used += s.drawn[0]; rounds.push(s.rounds); });
  }
  rounds.sort((a, b) => a - b);
  const n = prompts.length * orders;
  return { quality: q / n, used: used / n, meanRounds: rounds.reduce((a, b) => a + b, 0) / n, p99: rounds[Math.floor(0.99 * n)], max: rounds[n - 1] };
}
const binManifest = JSON.parse(readFileSync("models/predictors/strong-binary.manifest.json", "utf8")) as { prior_strength: number };
const grManifest = JSON.parse(readFileSync("models/predictors/strong-graded.manifest.json", "utf8")) as { prior_strength?: number };
const bin = await load("strong-binary", 1, "p");
const gr = await load("strong-graded", 16, "q");
const grAtoms = gr.map((p) => atomsFromCurve(p.out));
console.log("| predictor | B | schedule | quality | samples/prompt | mean rounds | p99 rounds | max rounds |\n|---|---|---|---|---|---|---|---|");
for (const [name, set, belief] of [["strong-binary", bin, (i: number): Belief => ({ prior: priorOf(bin[i].out[0], binManifest.prior_strength) })], ["strong-graded", gr, (i: number): Belief => ({ atoms: grAtoms[i], strength: grManifest.prior_strength })]] as const) {
  for (const B of [2, 4, 8]) for (const single of [false, true]) {
    const r = replay(set, belief, B, single);
    console.log(`| ${name} | ${B} | ${single ? "1 per round" : "1, 1, 2, 4, …"} | ${r.quality.toFixed(4)} | ${r.used.toFixed(2)} | ${r.meanRounds.toFixed(2)} | ${r.p99} | ${r.max} |`);
  }
}

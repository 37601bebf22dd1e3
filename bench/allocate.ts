/**
 * npm run bench:allocate — the batch solver at n = 10³ … 10⁶ queries × 32 units, against
 * HiGHS (an independent exact MIP solver, compiled to WebAssembly) where it can cope.
 *
 * Each size runs in its own process so that peak memory (VmHWM) belongs to that size.
 * Prints a markdown table. Options: --sizes 1000,10000 --highs-max 10000 (the default) --runs 5
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import highsLoader from "highs";
import { bernoulliGain, solveBatch, type BatchProblem } from "../src/core/allocation/index.js";
import { cloneInstance, makeInstance } from "./instances.js";
import { arg } from "./args.js";

const MAX = 32;
const AVERAGE_BUDGET = 8;


const peakMiB = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * The DESIGN's model, c_ij = "query i gets its j-th unit", c_ij ≤ c_i,j−1, Σ c ≤ budget,
 * with 0 ≤ c_ij ≤ 1 relaxed from {0, 1}. The LP optimum bounds every integral allocation
 * from above, so an allocation that reaches it is proven optimal. (As a MIP, HiGHS took
 * 46 s at n = 1,000 proving what its root LP already shows.)
 */
function lpText(b: BatchProblem, budget: number): { text: string; constant: number } {
  const obj: string[] = [];
  const rows: string[] = [];
  const vars: string[] = [];
  let constant = 0;
  let forced = 0;
  for (let i = 0; i < b.n; i++) {
    const g = (j: number) => (Number.isNaN(b.p[i]) ? b.gains[b.offsets[i] + j - 1] : bernoulliGain(b.p[i], j));
    for (let j = 1; j <= b.min[i]; j++) constant += g(j);
    forced += b.min[i];
    for (let j = b.min[i] + 1; j <= b.max[i]; j++) {
      const v = `c${i}_${j}`;
      vars.push(v);
      obj.push(`+ ${g(j)} ${v}`);
      if (j > b.min[i] + 1) rows.push(` o${i}_${j}: ${v} - c${i}_${j - 1} <= 0`);
    }
  }
  const text = [
    "Maximize",
    ` obj: ${obj.join(" ")}`,
    "Subject To",
    ` budget: ${vars.map((v) => `+ ${v}`).join(" ")} <= ${budget - forced}`,
    ...rows,
    "Bounds",
    ...vars.map((v) => ` 0 <= ${v} <= 1`),
    "End",
  ].join("\n");
  return { text, constant };
}

async function one(n: number, runs: number, highsMax: number) {
  const instance = makeInstance(n, MAX);
  const budget = AVERAGE_BUDGET * n;
  // The floor: one pass that reads every input number.
  const readTimes: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    let s = 0;
    for (let k = 0; k < instance.gains.length; k++) s += instance.gains[k];
    for (let k = 0; k < n; k++) s += instance.p[k] || 0;
    readTimes.push(performance.now() - t);
    if (s === -1) console.log(s);
  }
  const copies = Array.from({ length: runs }, () => cloneInstance(instance));
  const before = peakMiB();
  const times: number[] = [];
  let solution = null as ReturnType<typeof solveBatch> | null;
  for (const copy of copies) {
    const t = performance.now();
    solution = solveBatch(copy, budget);
    times.push(performance.now() - t);
  }
  const extraPeak = peakMiB() - before;
  let highs = { ms: NaN, objective: NaN, status: "not run" };
  if (n <= highsMax) {
    const solver = await highsLoader();
    const { text, constant } = lpText(instance, budget);
    const t = performance.now();
    const res = solver.solve(text, { output_flag: false, time_limit: 600 });
    const ok = res.Status === "Optimal";
    highs = { ms: performance.now() - t, objective: ok ? res.ObjectiveValue + constant : NaN, status: res.Status };
  }
  process.stdout.write(
    JSON.stringify({
      // NaN does not survive JSON; the parent reads null as "no value".
      n,
      budget,
      numbers: instance.gains.length + n,
      solveMs: median(times),
      readMs: median(readTimes),
      extraPeakMiB: extraPeak,
      inputMiB: (instance.gains.byteLength + instance.p.byteLength + 12 * n) / 2 ** 20,
      used: solution!.used,
      objective: solution!.objective,
      highs,
    }) + "\n",
  );
}

async function main() {
  const runs = Number(arg("runs", "5"));
  // HiGHS is an independent check, not the subject: its LP text at n = 10⁵ (3.2 M columns)
  // exhausts the heap, so by default it runs up to 10⁴ and the run always finishes.
  const highsMax = Number(arg("highs-max", "10000"));
  if (process.argv.includes("--one")) return one(Number(arg("one", "0")), runs, highsMax);
  const sizes = arg("sizes", "1000,10000,100000,1000000").split(",").map(Number);
  const self = fileURLToPath(import.meta.url);
  console.log(`batch solver: n queries × ${MAX} units (min 1), budget ${AVERAGE_BUDGET}·n; median of ${runs} runs\n`);
  console.log("| n | solver ms | read-once ms | solver / read | extra peak MiB (input MiB) | HiGHS LP ms | objective | HiGHS LP optimum | rel. diff |");
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const n of sizes) {
    const out = execFileSync(process.execPath, ["--import", "tsx", self, "--one", String(n), "--runs", String(runs), "--highs-max", String(highsMax)], {
      encoding: "utf8",
      maxBuffer: 1 << 26,
    });
    const r = JSON.parse(out.trim().split("\n").pop()!);
    r.highs.objective ??= NaN;
    r.highs.ms ??= NaN;
    const diff = Number.isNaN(r.highs.objective) ? "—" : (Math.abs(r.objective - r.highs.objective) / Math.abs(r.highs.objective)).toExponential(1);
    const hs = Number.isNaN(r.highs.ms) ? "—" : `${r.highs.ms.toFixed(0)} (${r.highs.status})`;
    console.log(
      `| ${n.toLocaleString("en")} | ${r.solveMs.toFixed(1)} | ${r.readMs.toFixed(1)} | ${(r.solveMs / r.readMs).toFixed(1)}× | ${r.extraPeakMiB.toFixed(0)} (${r.inputMiB.toFixed(0)}) | ${hs} | ${r.objective.toFixed(6)} | ${Number.isNaN(r.highs.objective) ? "—" : r.highs.objective.toFixed(6)} | ${diff} |`,
    );
  }
}

await main();

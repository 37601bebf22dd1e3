/** `allot eval` of a router: the router on held-out prompts, as curves, a table and an SVG. */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { type PredictorManifest, PredictorManifestSchema } from "../predictor/manifest.js";
import { type RouteCurves, type RoutePoint, costToReach, routeCurves } from "./evaluate-route.js";
import { lineChart } from "./plot.js";
import { readRouted, successes } from "./route-data.js";
import { pct } from "./format.js";

export interface RouteEvalOptions {
  readonly test: readonly [string, string][];
  readonly predictor: string;
  readonly outDir: string;
  readonly kMax: number;
}

export interface RouteSaving {
  /** The policy whose quality is matched, e.g. "always strong, k = 2". */
  readonly reference: string;
  readonly cost: number;
  readonly quality: number;
  /** Share of the reference's cost saved at equal quality (null: never reached). */
  readonly saved: { readonly allot: number | null; readonly oracle: number | null; readonly allotOnly: number | null };
}

export interface RouteEvalResult {
  readonly manifest: PredictorManifest;
  readonly prompts: number;
  readonly kMax: number;
  readonly curves: RouteCurves;
  readonly savings: RouteSaving[];
}

export async function evaluateRouter(o: RouteEvalOptions): Promise<RouteEvalResult> {
  const manifest = PredictorManifestSchema.parse(JSON.parse(await readFile(`${o.predictor}.manifest.json`, "utf8")));
  if (!manifest.route) throw new Error(`${manifest.name} is not a router (its manifest has no route)`);
  const options = manifest.route.options;
  const models = o.test.map(([m]) => m);
  if (models.join() !== options.map((x) => x.model).join()) {
    throw new Error(`--test must give the router's models in its order: ${options.map((x) => x.model).join(", ")}`);
  }
  const prompts = await readRouted(o.test, manifest.lm.model);
  const session = await ort.InferenceSession.create(join(dirname(o.predictor), manifest.file));
  const flat = Float32Array.from(prompts.flatMap((p) => p.hidden));
  const out = (await session.run({ hidden: new ort.Tensor("float32", flat, [prompts.length, manifest.input_size]) }))[manifest.output].data as Float32Array;
  const m = options.length;
  const routed = prompts.map((p, i) => ({
    successes: p.rewards.map(successes),
    samples: p.rewards.map((r) => r.length),
    predicted: Array.from(out.subarray(i * m, (i + 1) * m)),
  }));
  const kMax = Math.min(o.kMax, ...routed.flatMap((r) => r.samples));
  const top = kMax * Math.max(...options.map((x) => x.cost));
  const budgets: number[] = [];
  for (let b = Math.min(...options.map((x) => x.cost)); b <= top + 1e-9; b += b < 4 ? 0.25 : b < 12 ? 0.5 : 1) budgets.push(b);
  const curves = routeCurves(routed, options, kMax, budgets);

  const savings: RouteSaving[] = [];
  const reference = (model: string, k: number) => {
    const pt = curves.always[model][k - 1];
    const saved = (curve: readonly RoutePoint[]) => {
      const c = costToReach(curve, pt.quality);
      return c === null ? null : 1 - c / pt.cost;
    };
    savings.push({
      reference: `always ${model}, k = ${k}`,
      cost: pt.cost,
      quality: pt.quality,
      saved: { allot: saved(curves.allot), oracle: saved(curves.oracle), allotOnly: saved(curves.allotOnly[model]) },
    });
  };
  const dear = options.reduce((a, x) => (x.cost > a.cost ? x : a)).model;
  const cheap = options.reduce((a, x) => (x.cost < a.cost ? x : a)).model;
  for (const k of [1, 2, 4, 8].filter((k) => k <= kMax)) reference(dear, k);
  reference(cheap, kMax);

  const result: RouteEvalResult = { manifest, prompts: prompts.length, kMax, curves, savings };
  await mkdir(o.outDir, { recursive: true });
  const palette = ["#2ca02c", "#9467bd", "#8c564b"];
  const svg = lineChart(
    `${manifest.name}: routing on ${prompts.length} held-out prompts`,
    `average cost per prompt (units; ${options.map((x) => `${x.model} sample = ${x.cost}`).join(", ")})`,
    "pass rate (best of the samples)",
    [
      ...options.map((x, j) => ({ name: `always ${x.model}`, color: palette[j % palette.length], points: curves.always[x.model].map((p) => [p.cost, p.quality] as const) })),
      { name: "random mix (k = 1)", color: "#888888", points: curves.random.map((p) => [p.cost, p.quality] as const) },
      ...options.map((x, j) => ({ name: `allot k, ${x.model} only`, color: palette[j % palette.length], dashed: true, points: curves.allotOnly[x.model].map((p) => [p.cost, p.quality] as const) })),
      { name: "allot routing", color: "#d62728", points: curves.allot.map((p) => [p.cost, p.quality] as const) },
      { name: "oracle routing", color: "#1f77b4", dashed: true, points: curves.oracle.map((p) => [p.cost, p.quality] as const) },
    ],
  );
  await writeFile(join(o.outDir, "routing.svg"), svg);
  await writeFile(join(o.outDir, "results.json"), JSON.stringify(result, null, 1) + "\n");
  await writeFile(join(o.outDir, "report.md"), routeReportMarkdown(result));
  return result;
}

export function routeReportMarkdown(r: RouteEvalResult): string {
  const route = r.manifest.route!;
  const at = (b: number) => {
    const i = r.curves.allot.findIndex((p) => p.cost >= b - 1e-9);
    return i < 0 ? null : { point: r.curves.allot[i], share: r.curves.allotShare[i] };
  };
  return [
    `# Routing: ${r.manifest.name}`,
    "",
    `${r.prompts} held-out prompts, each collected from every model on the menu. The router reads \`${r.manifest.lm.model}\`'s ` +
      `hidden state and predicts each model's single-sample success; each prompt may be answered by (model, k ≤ ${r.kMax} samples), ` +
      `a sample costing ${route.options.map((x) => `${x.cost} unit${x.cost === 1 ? "" : "s"} (${x.model})`).join(" or ")} — ${route.cost_basis}. ` +
      "allot and the oracle solve the multiple-choice knapsack over these menus at each average budget; quality is the unbiased " +
      "best-of-k estimate from each model's own samples of the prompt.",
    "",
    ...route.options.map((x) => `- ${x.model}: Spearman ${r.manifest.metrics[`spearman_validation_${x.model}`]?.toFixed(3)}, ECE ${r.manifest.metrics[`ece_validation_${x.model}`]?.toFixed(3)} (validation)`),
    "",
    "![routing](routing.svg)",
    "",
    "Cost saved at the quality of a fixed policy: by allot routing (model and k per prompt), by the oracle, and by allot's " +
      "adaptive k on that policy's model alone (no routing), which shows what routing adds.",
    "",
    "| quality of | its cost | its quality | saved: allot routing | oracle routing | allot k, same model only |",
    "|---|---|---|---|---|---|",
    ...r.savings.map((s) => `| ${s.reference} | ${s.cost} | ${s.quality.toFixed(3)} | ${pct(s.saved.allot)} | ${pct(s.saved.oracle)} | ${pct(s.saved.allotOnly)} |`),
    "",
    "Where allot sends prompts, by average budget:",
    "",
    `| budget | quality | ${route.options.map((x) => `share to ${x.model}`).join(" | ")} |`,
    `|---|---|${route.options.map(() => "---|").join("")}`,
    ...[1.5, 2, 3, 4, 6, 8, 12].flatMap((b) => {
      const a = at(b);
      return a ? [`| ${b} | ${a.point.quality.toFixed(3)} | ${route.options.map((x) => `${(100 * a.share[x.model]).toFixed(0)}%`).join(" | ")} |`] : [];
    }),
    "",
  ].join("\n");
}

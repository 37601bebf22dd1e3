/** `allot eval` of a router: the router on held-out prompts, as curves, a table and an SVG. */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { type PredictorManifest, PredictorManifestSchema } from "../../core/predictor/manifest.js";
import { priorOf } from "../../core/allocation/waves.js";
import { CASCADE_PRICES, type CascadePrompt, type RouteCurves, type RoutePoint, costToReach, fixedCascade, frontier, replayCascade, routeCurves } from "./evaluate-route.js";
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
  readonly saved: {
    readonly allot: number | null;
    readonly oracle: number | null;
    readonly allotOnly: number | null;
    /** The sequential policies (absent when the router has no prior_strength). */
    readonly cascade?: number | null;
    readonly fixedCascade?: number | null;
    readonly cascadeOracle?: number | null;
  };
}

/** Cost-quality curves of the cascades (replayed on the recorded samples). */
export interface CascadeCurves {
  readonly strength: number;
  readonly cascade: RoutePoint[];
  readonly fixedCascade: RoutePoint[];
  readonly cascadeOracle: RoutePoint[];
}

export interface RouteEvalResult {
  readonly manifest: PredictorManifest;
  readonly prompts: number;
  readonly kMax: number;
  readonly curves: RouteCurves;
  readonly cascades: CascadeCurves | null;
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
  // Cascades need the prior's strength (fitted on the validation split by allot train-route).
  const strength = manifest.prior_strength;
  const recorded: CascadePrompt[] = routed.map((r, i) => ({ ...r, outcomes: prompts[i].rewards }));
  const cascades: CascadeCurves | null =
    strength === undefined
      ? null
      : {
          strength,
          cascade: frontier(CASCADE_PRICES.map((price) => replayCascade(recorded, options, (i, j) => ({ prior: priorOf(recorded[i].predicted[j], strength) }), price, kMax))),
          fixedCascade: fixedCascade(recorded, options, kMax),
          cascadeOracle: frontier(CASCADE_PRICES.map((price) => replayCascade(recorded, options, (i, j) => ({ known: recorded[i].successes[j] / recorded[i].samples[j] }), price, kMax))),
        };

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
      saved: {
        allot: saved(curves.allot),
        oracle: saved(curves.oracle),
        allotOnly: saved(curves.allotOnly[model]),
        ...(cascades ? { cascade: saved(cascades.cascade), fixedCascade: saved(cascades.fixedCascade), cascadeOracle: saved(cascades.cascadeOracle) } : {}),
      },
    });
  };
  const dear = options.reduce((a, x) => (x.cost > a.cost ? x : a)).model;
  const cheap = options.reduce((a, x) => (x.cost < a.cost ? x : a)).model;
  for (const k of [1, 2, 4, 8].filter((k) => k <= kMax)) reference(dear, k);
  reference(cheap, kMax);

  const result: RouteEvalResult = { manifest, prompts: prompts.length, kMax, curves, cascades, savings };
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
      ...(cascades
        ? [
            { name: "allot cascade", color: "#ff7f0e", points: cascades.cascade.map((p) => [p.cost, p.quality] as const) },
            { name: "fixed cascade (best a, b)", color: "#7f7f7f", dashed: true, points: cascades.fixedCascade.map((p) => [p.cost, p.quality] as const) },
            { name: "cascade oracle", color: "#17becf", dashed: true, points: cascades.cascadeOracle.map((p) => [p.cost, p.quality] as const) },
          ]
        : []),
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
    ...(r.cascades
      ? [
          "Cascades, replayed on the recorded samples (each model's samples in 8 random orders; every sample looked at is paid for): " +
            `allot's cascade (after each sample, the model with the highest posterior success per unit of cost, while that is worth the price; ` +
            `Beta priors of strength ${r.cascades.strength.toFixed(2)} around the router's p, fitted on the validation split; a price sweep traces the curve), ` +
            "the fixed cascade (up to a samples of the cheapest model, then up to b of the dearest, stopping at the first pass; the best (a, b) at each cost, " +
            "chosen on these very prompts), and the cascade oracle (allot's rule with each prompt's true p per model). Cost saved at the same qualities:",
          "",
          "| quality of | allot one-shot routing | allot cascade | fixed cascade | cascade oracle | cascade − max(one-shot, fixed) (points) |",
          "|---|---|---|---|---|---|",
          ...r.savings.map((s) => {
            const c = s.saved.cascade ?? null;
            const rivals = [s.saved.allot, s.saved.fixedCascade ?? null].filter((x): x is number => x !== null);
            const lead = c !== null && rivals.length > 0 ? (100 * (c - Math.max(...rivals))).toFixed(0) : "—";
            return `| ${s.reference} | ${pct(s.saved.allot)} | ${pct(c)} | ${pct(s.saved.fixedCascade ?? null)} | ${pct(s.saved.cascadeOracle ?? null)} | ${lead} |`;
          }),
          "",
        ]
      : []),
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

/**
 * How each prompt of an online request to a model that thinks (THINKING_MODELS) is served:
 * how long each sample may think, and how many samples, decided at the tenant's price
 * from the thinking predictor's p and tokens at each budget level (docs/thinking.md).
 *
 * - In rounds (the sequential core), one arm per level at its expected cost: after a
 *   failed sample the core may draw another at the same level or a longer think,
 *   whichever is worth more at the price.
 * - In one round (one round allowed, or no fitted prior): the (level, k) option worth most
 *   at the price, with cheaper ones to fall back to when the budget is short.
 * - A client that pins its thinking (thinking_token_budget, reasoning_effort, SGLang's
 *   custom_params.thinking_budget) keeps it: allot sends no budget of its own and plans
 *   samples only, at the largest level's prediction; pinned units and greedy decoding
 *   plan as for best-of-k, and so does a deployment that cannot predict.
 *
 * Every sample is charged the tokens it generated (`tokensPerUnit` to a unit), and each
 * draw reserves its samples' ceilings first (core/allocation/thinking.ts).
 */
import { answerAllowance, levelsOf, thinkingArms, thinkingMenu } from "../../core/allocation/thinking.js";
import { chooseAtPrice } from "../../core/allocation/route.js";
import type { ThinkingModel } from "../../core/backends/thinking.js";
import { Invalid } from "../../core/errors.js";
import type { CallMeter } from "../../core/lm/meter.js";
import { curvePoints } from "../../core/metrics/earned.js";
import { capAtPrice, startState } from "../../core/sequential/index.js";
import type { Env } from "../env.js";
import { defaultUnits, predictOrDefault } from "../predictor/predict.js";
import type { Predictor } from "../predictor/registry.js";
import type { FixedOption, PlanSettings, PromptPlan } from "./plan.js";
import type { OnlineRequest } from "./request.js";

/** The request fields by which a client pins its own thinking (vLLM's, OpenAI's, SGLang's). */
export function pinnedThinking(extra: Readonly<Record<string, unknown>> | undefined): string | null {
  if (!extra) return null;
  if (extra.thinking_token_budget !== undefined) return "thinking_token_budget";
  if (extra.reasoning_effort !== undefined) return "reasoning_effort";
  const custom = extra.custom_params;
  if (custom && typeof custom === "object" && (custom as Record<string, unknown>).thinking_budget !== undefined) return "custom_params.thinking_budget";
  return null;
}

/** Tokens to a unit for `model`: the deployment's setting, else its predictor's manifest. */
export const tokensPerUnitOf = (tm: ThinkingModel, predictor: Predictor | null): number => tm.tokens_per_unit ?? predictor?.manifest.thinking?.tokens_per_unit ?? 1;

/**
 * The most units one sample can cost when allot does not choose its budget: the client's
 * max_tokens, else the largest level's ceiling (the manifest's), else the model's max_tokens setting.
 */
function unchosenCeiling(req: OnlineRequest, predictor: Predictor | null, tokensPerUnit: number, fallbackTokens: number): number {
  const t = predictor?.manifest.thinking;
  const tokens = req.params.maxTokens ?? (t ? Math.max(...t.levels) + answerAllowance(t) : fallbackTokens);
  return tokens / tokensPerUnit;
}

/**
 * Plans each prompt of a request to a thinking model. `predictor` is its thinking
 * predictor (null: none, so the tenant's target samples, charged by tokens).
 */
export async function planThinking(
  env: Env,
  predictor: Predictor | null,
  tm: ThinkingModel,
  req: OnlineRequest,
  s: PlanSettings,
  greedy: boolean,
  maxRounds: number,
  meter: CallMeter,
): Promise<PromptPlan[]> {
  const n = req.n ?? 1;
  const tokensPerUnit = tokensPerUnitOf(tm, predictor);
  const ceiling = unchosenCeiling(req, predictor, tokensPerUnit, tm.max_tokens);
  // Samples without a budget of allot's: pinned, greedy, pinned thinking, or nothing to predict with.
  const unchosen = (k: number, extra: { unpredicted?: string } = {}): PromptPlan => ({
    kind: "fixed",
    options: [{ model: req.model, k, cost: k * ceiling, value: 0, predicted: null, ceiling }],
    chosen: 0,
    tokensPerUnit,
    ...extra,
  });
  if (req.pinned) {
    if (req.pinned.units < n) throw new Invalid({ message: `${req.pinned.units} samples pinned by ${req.pinned.param} are fewer than the n = ${n} answers asked for`, param: req.pinned.param });
    return req.inputs.map(() => unchosen(req.pinned!.units));
  }
  if (greedy) return req.inputs.map(() => unchosen(n));
  if (!predictor?.manifest.thinking) return req.inputs.map(() => unchosen(Math.max(n, defaultUnits(s))));
  const manifest = predictor.manifest.thinking;
  const got = await predictOrDefault(env, predictor, req.inputs, () => ("messages" in req.inputs[0] ? "messages" : "prompt"), meter);
  if ("unpredicted" in got) return req.inputs.map(() => unchosen(Math.max(n, defaultUnits(s)), { unpredicted: got.unpredicted.message }));
  const pinned = pinnedThinking(req.params.extra);
  const strength = predictor.manifest.prior_strength;
  // The console's best-of-k curve (what "earned" compares with), of samples at the largest level.
  const curve = (p: number) => ({ predictor: predictor.manifest.name, points: curvePoints({ p }) });
  return got.predictions.map((pr, i): PromptPlan => {
    const lv = "p" in pr ? pr.levels : undefined;
    if (!lv) throw new Error(`${predictor.manifest.name} gave no thinking levels`);
    const all = levelsOf(manifest, lv, tokensPerUnit, req.params.maxTokens);
    // A client's own thinking: only the largest level stands for it, and no budget is sent.
    const last = all.p.length - 1;
    const levels = pinned ? { ...all, budgets: [all.budgets[last]], p: [all.p[last]], cost: [all.cost[last]], ceiling: [ceiling] } : all;
    const budgetOf = (j: number) => (pinned ? undefined : levels.budgets[j]);
    const least = n * Math.min(...levels.cost);
    const common = { tokensPerUnit, hidden: got.hidden[i], curve: curve(levels.p[levels.p.length - 1]) };
    if (maxRounds > 1 && strength !== undefined && n === 1) {
      const arms = thinkingArms(levels, strength, s.max_units);
      if (arms.every((a) => a.max === 0)) throw new Invalid({ message: `no thinking budget of ${req.model} fits this tenant's max of ${s.max_units} units per prompt`, param: "model" });
      const query = { arms, state: startState(arms.length), min: Math.min(least, s.max_units), max: s.max_units };
      return {
        kind: "rounds",
        query,
        models: arms.map(() => req.model),
        predicted: levels.p,
        cap: capAtPrice(query, s.price),
        thinking: { budgets: levels.p.map((_, j) => budgetOf(j)), ceiling: levels.ceiling },
        ...common,
      };
    }
    const menu = thinkingMenu(levels, s.max_units, { minK: n });
    if (menu.length === 0) throw new Invalid({ message: `no thinking budget of ${req.model} draws n = ${n} samples within this tenant's max of ${s.max_units} units per prompt`, param: "n" });
    const choice = chooseAtPrice(menu, s.price);
    const option = (o: (typeof menu)[number]): FixedOption => ({
      model: req.model,
      k: o.k,
      cost: o.cost,
      value: o.value,
      predicted: levels.p[o.option],
      ...(budgetOf(o.option) !== undefined ? { budget: budgetOf(o.option) } : {}),
      ceiling: levels.ceiling[o.option],
    });
    const options = menu.filter((o) => o.cost <= choice.cost);
    return { kind: "fixed", options: options.map(option), chosen: options.findIndex((o) => o === choice), ...common };
  });
}

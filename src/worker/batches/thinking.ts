/**
 * A batch of a model that thinks (THINKING_MODELS, with a thinking predictor): its budget,
 * in units of `tokensPerUnit` generated tokens, is shared over each prompt's (thinking
 * level × samples) options (docs/thinking.md).
 *
 * - learned: the menu solver picks one (level, k) per prompt, from the predicted p and
 *   tokens at each level, within the batch's units (the multiple-choice knapsack, as for
 *   routing);
 * - waves: the sequential core's rounds with one arm per level (at the level's mean
 *   tokens), so a failed sample may be followed by a longer think or another sample;
 * - uniform: every prompt the same: the largest level whose samples B buys, as many
 *   samples of it as B buys (at least one).
 *
 * Levels are kept with the batch as its arms (`route_options`), each with its budget and
 * the tokens to a unit, so drawing needs nothing else; samples are charged the tokens
 * they generated (work.ts, items.ts).
 */
import { answerAllowance, levelsOf, thinkingMenu } from "../../core/allocation/thinking.js";
import type { PredictorManifest } from "../../core/predictor/manifest.js";
import { solveMenu } from "../../core/allocation/menu.js";
import { Invalid } from "../../core/errors.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import type { Prediction } from "../predictor/predict.js";
import type { Predictor } from "../predictor/registry.js";
import { tokensPerUnitOf } from "../online/plan-thinking.js";
import type { BatchArm, Items } from "./items.js";

type Manifest = NonNullable<PredictorManifest["thinking"]>;

/** How a batch's model thinks, when it does: its predictor's levels and the tokens to a unit. */
export interface BatchThinking {
  readonly manifest: Manifest;
  readonly tokensPerUnit: number;
}

/** The batch's model thinks (THINKING_MODELS) and `source` predicts its budgets; else null. */
export function batchThinking(env: Env, model: string, source: Predictor | null): BatchThinking | null {
  const tm = settings(env).THINKING_MODELS?.get(model);
  const manifest = source?.manifest.thinking;
  if (!tm || !manifest) return null;
  return { manifest, tokensPerUnit: tokensPerUnitOf(tm, source) };
}

/** The batch's arms: one per level, at its mean tokens in units, with its budget and its samples' most tokens. */
export function levelArms(model: string, t: BatchThinking): BatchArm[] {
  const allowance = answerAllowance(t.manifest);
  return t.manifest.levels.map((budget, l) => ({
    model,
    cost: t.manifest.expected_tokens[l] / t.tokensPerUnit,
    thinking: { budget, tokensPerUnit: t.tokensPerUnit, maxTokens: budget + allowance },
  }));
}

/** learned: one (level, k) per prompt by the menu solver within `budget` units; returns the units allocated. */
export function startLearnedThinking(items: Items, model: string, budget: number, bounds: { min: number; max: number }, t: BatchThinking): number {
  const ok = items.predictions<Prediction>();
  if (ok.length === 0) return 0;
  const menus = ok.map(({ pr }) => {
    if (!("p" in pr) || !pr.levels) throw new Error("a thinking batch's prediction has no levels");
    const levels = levelsOf(t.manifest, pr.levels, t.tokensPerUnit);
    const menu = thinkingMenu(levels, bounds.max, { minK: 1 });
    // min 0: a prompt may be given nothing, as a routed batch's may.
    return bounds.min === 0 ? [{ option: -1, k: 0, cost: 0, value: 0 }, ...menu] : menu;
  });
  if (menus.some((m) => m.length === 0)) throw new Invalid({ message: `no thinking budget of ${model} costs at most the batch's max of ${bounds.max} units per prompt`, param: "budget" });
  const solution = solveMenu(menus, budget);
  let allocated = 0;
  ok.forEach(({ pr, idx }, k) => {
    const c = menus[k][solution.choice[k]];
    allocated += c.cost;
    const p = "p" in pr && pr.levels && c.option >= 0 ? pr.levels.p[c.option] : null;
    items.fix(idx, { model, samples: c.k, units: c.cost, p, ...(c.option >= 0 ? { arm: c.option } : {}) });
  });
  return allocated;
}

/** waves: each prompt's p per level and its own expected units per sample there, for the core's arms (one per level). */
export function startWavesThinking(items: Items, model: string, t: BatchThinking): void {
  for (const { pr, idx } of items.predictions<Prediction>()) {
    if (!("p" in pr) || !pr.levels) throw new Error("a thinking batch's prediction has no levels");
    items.startRounds(idx, pr.levels.p, null, model, levelsOf(t.manifest, pr.levels, t.tokensPerUnit).cost);
  }
}

/**
 * uniform: the largest level of which `average` units buy one sample (at its mean tokens),
 * and as many samples of it as they buy; the cheapest level, once, when they buy none.
 */
export function uniformThinking(average: number, arms: readonly BatchArm[]): { level: number; k: number; cost: number } {
  const cost = arms.map((a) => a.cost);
  let level = 0;
  cost.forEach((c, l) => {
    if (c <= average + 1e-9) level = l;
  });
  const k = Math.max(1, Math.floor(average / cost[level] + 1e-9));
  return { level, k, cost: k * cost[level] };
}

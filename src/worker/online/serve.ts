/**
 * One online request, whatever its wire format: reserve what it is expected to spend,
 * predict each prompt's curve, plan at the tenant's price, and draw round after round,
 * topping the reservation up before each round (and cutting the round to what the budget
 * holds when it holds less), scoring and keeping the best, then charge what was drawn and
 * let the price controller see it. The OpenAI-compatible routes only translate in and out.
 *
 * Every LM call is inside the budget: the prompts' prefills (hidden states, PREFILL_UNITS
 * each) and every sample. The reservation is a lease (ONLINE_LEASE_SECONDS) the request
 * renews while it works (ledger calls renew it, and a heartbeat every third of a lease);
 * a request that cannot renew stops drawing, and its answer is only what was drawn and
 * charged. An answer is returned only once its charge is recorded.
 */
import { fitToBudget } from "../../core/allocation/fit.js";
import { roundSeed } from "../../core/allocation/waves.js";
import { type RerankResult, mapBounded, sampleAndRerank } from "../../core/backends/best-of-k.js";
import type { LmConfig } from "../../core/backends/deployment.js";
import type { LmInput } from "../../core/contracts/lm-protocol.js";
import { BudgetExceeded, Invalid, TryLater, Unavailable, isUpstream } from "../../core/errors.js";
import { CallMeter } from "../../core/lm/meter.js";
import { type Draw, afterRound, drawAtPrice, pathOf } from "../../core/sequential/index.js";
import { lmConfig } from "../backends/config.js";
import { upstreamError } from "../backends/upstream-error.js";
import { settings } from "../config.js";
import type { Env } from "../env.js";
import { httpError } from "../http/errors.js";
import { modelNotFound } from "../predictor/predict.js";
import { findRouter, knownModel } from "../predictor/registry.js";
import { type BudgetHome, type OnlineAccount, accountOf } from "../tenants/account.js";
import { refusalError } from "../tenants/budget-error.js";
import { type FixedPlan, type PromptPlan, type RoundsPlan, planBestOfK, planRoute, plannedUnits } from "./plan.js";
import { recordOf } from "./record.js";
import { GREEDY_TEMPERATURE, type OnlineRequest, type OnlineResult, type ServedChoice } from "./request.js";

export { GREEDY_TEMPERATURE, pinnedUnits, roundsCap, type OnlineRequest, type OnlineResult, type ServedChoice } from "./request.js";

/** LM calls one request has in flight at once (the Workers limit on simultaneous connections). */
const IN_FLIGHT = 6;

/** What one prompt has drawn so far. */
interface Progress {
  result: RerankResult | null;
  samples: number;
  rounds: number;
  units: number;
  /** The model whose sample is kept. */
  model: string;
  /** The sequential core's query, for a prompt served in rounds. */
  query: RoundsPlan["query"] | null;
  /** The fixed plan's option drawn (or to draw), for a prompt served in one round. */
  option: number;
}

/** This round's draw for prompt i: a model and k samples at a cost per sample, or nothing. */
interface RoundDraw {
  readonly i: number;
  readonly model: string;
  readonly arm: number;
  readonly k: number;
  readonly unitCost: number;
}

/**
 * Serves the request. `home` is where its budget lives (authentication says: the tenant's
 * ledger or one of its budget shards). `waitUntil` (the Worker's ExecutionContext's) keeps
 * the drawing and the settlement running when the client goes away, so what was drawn is
 * charged and the rest released.
 */
export async function serveOnline(env: Env, home: BudgetHome, req: OnlineRequest, waitUntil: (p: Promise<unknown>) => void = () => {}): Promise<OnlineResult> {
  const meter = new CallMeter();
  const started = Date.now();
  const config = settings(env);
  const account = accountOf(env, home);
  const greedy = req.params.temperature !== undefined && req.params.temperature < GREEDY_TEMPERATURE;
  const router = await findRouter(env, req.model);
  if (!router && !(await knownModel(env, req.model))) throw modelNotFound(req.model);
  // Hidden states are read (a prefill per prompt) when a prediction decides: always for a router, else unless pinned or greedy.
  const predicts = router !== null || !(req.pinned || greedy);
  const prefillEach = predicts ? config.PREFILL_UNITS : 0;
  const prefill = prefillEach * req.inputs.length;
  const begun = await account.begin({
    prompts: req.inputs.length,
    pinned: req.pinned?.units ?? null,
    rounds: req.rounds?.max ?? null,
    greedy: greedy && !router,
    unitCost: router ? Math.min(...router.manifest.route!.options.map((o) => o.cost)) : 1,
    prefill: prefillEach,
    route: req.route ?? "completions",
  });
  if (begun.invalid === "units") throw new Invalid({ message: `${req.pinned!.units} units is above this tenant's max of ${begun.max_units}`, param: req.pinned!.param });
  if (begun.invalid === "rounds") throw new Invalid({ message: `${req.rounds!.max} rounds is above this tenant's max of ${begun.max_rounds}`, param: req.rounds!.param });
  const reservation = begun.reservation!;
  if (!reservation.ok) throw refusalError(home.tenant, reservation, "this request");
  const maxRounds = req.rounds?.max ?? begun.max_rounds;
  const priced = !req.pinned && !greedy;
  const lease = keepAlive(account, reservation.id, config.ONLINE_LEASE_SECONDS * 1000);

  // Sampling and settlement run to the end whatever happens to the client.
  let plans: PromptPlan[] = [];
  const work = (async () => {
    try {
      plans = router ? await planRoute(env, router, req, begun, greedy, maxRounds, meter) : await planBestOfK(env, req, begun, greedy, maxRounds, meter);
      const served = await drawRounds({ ...lmConfig(env), meter }, account, reservation, req, plans, { tenant: home.tenant, price: begun.price, maxRounds, prefill, lease });
      // The price sees what the price decided: for rounds what they drew, else the plan's
      // units (even when the budget cut them short); nothing of pinned or greedy requests.
      const observed = priced ? plans.map((p, i) => (p.kind === "rounds" ? served.progress[i].units : plannedUnits(p))) : null;
      await account.finish(reservation.id, served.spent, observed, recordOf(req, 200, priced, meter, started, plans, served.progress));
      return served;
    } catch (e) {
      await account.release(reservation.id, recordOf(req, httpError(e).status, priced, meter, started, plans));
      throw e;
    } finally {
      lease.stop();
    }
  })();
  waitUntil(work.catch(() => undefined));
  let served: Awaited<typeof work>;
  try {
    served = await work;
  } catch (e) {
    if (isUpstream(e)) {
      const sent = ["temperature", "top_p", "max_tokens", "stop", "seed", ...Object.keys(req.params.extra ?? {})];
      throw upstreamError(e, "sampling", "messages" in req.inputs[0] ? "messages" : "prompt", sent);
    }
    throw e;
  }
  const choices: ServedChoice[] = served.progress.map((d, i) => ({
    model: d.model,
    samples: d.samples,
    units: d.units,
    predicted: req.pinned || greedy ? null : predictedOf(plans[i], d),
    rounds: d.rounds,
    result: d.result!,
  }));
  const planned = plans.reduce((s, p) => s + plannedUnits(p), 0);
  return { choices, price: begun.price, planned, budgetLimited: served.budgetLimited, units: served.spent, prefill };
}

/** The predicted single-sample success of the model that answered. */
function predictedOf(plan: PromptPlan, d: Progress): number | null {
  if (plan.kind === "fixed") return plan.options[d.option].predicted;
  const arm = plan.models.indexOf(d.model);
  return plan.predicted[arm < 0 ? 0 : arm];
}

/**
 * Renews the reservation every third of its lease while the request works. A renewal
 * that finds the reservation gone (its lease ran out while the ledger could not be
 * reached) aborts what is drawing: nothing more is drawn that could not be charged.
 */
function keepAlive(account: OnlineAccount, id: string, leaseMs: number) {
  const abort = new AbortController();
  const timer = setInterval(() => {
    account.renew(id).then(
      (alive) => alive || abort.abort(new TryLater({ message: "this request's budget reservation ended while it was drawing; retry" })),
      () => undefined, // unreachable now: the next beat tries again, well within the lease
    );
  }, Math.max(1000, Math.floor(leaseMs / 3)));
  return { signal: abort.signal, stop: () => clearInterval(timer) };
}

/**
 * The rounds: each prompt's next draw (a fixed plan's one round; a rounds plan's next draw
 * at the price), the reservation topped up to pay for them (and the round cut to fit when
 * it holds less), drawn, scored, and the sequential state updated; until no prompt draws.
 */
async function drawRounds(
  cfg: LmConfig,
  account: OnlineAccount,
  reservation: { id: string; units: number },
  req: OnlineRequest,
  plans: readonly PromptPlan[],
  o: { tenant: string; price: number; maxRounds: number; prefill: number; lease: { signal: AbortSignal } },
) {
  const progress: Progress[] = plans.map((p) => ({
    result: null,
    samples: 0,
    rounds: 0,
    units: 0,
    model: p.kind === "fixed" ? p.options[p.chosen].model : p.models[0],
    query: p.kind === "rounds" ? p.query : null,
    option: p.kind === "fixed" ? p.chosen : 0,
  }));
  let held = reservation.units;
  let spent = Math.round(o.prefill * 1e9) / 1e9;
  let budgetLimited = false;
  for (let round = 0; ; round++) {
    let draws = plans.flatMap((p, i) => nextDraw(i, p, progress[i], round, o.price, o.maxRounds));
    if (draws.length === 0) break;
    o.lease.signal.throwIfAborted();
    const need = draws.reduce((s, d) => s + d.k * d.unitCost, 0);
    if (spent + need > held) {
      // One ledger call: charge what was drawn so far, hold what this round needs.
      const grown = await account.step(reservation.id, spent, need);
      if (grown === null) throw new TryLater({ message: "this request's budget reservation ended while it was drawing; retry" });
      held = grown.units;
    }
    if (spent + need > held) {
      budgetLimited = true;
      draws = fitRound(draws, plans, progress, held - spent);
      if (draws.length === 0) {
        if (progress.some((d) => d.result === null)) throw new BudgetExceeded({ tenant: o.tenant, message: `the budget holds ${Math.max(0, held - spent)} units for this request, less than its cheapest sample` });
        break;
      }
    }
    const results = await mapBounded(draws, IN_FLIGHT, (d) => {
      o.lease.signal.throwIfAborted();
      const seed = round === 0 && plans[d.i].kind === "fixed" ? req.seed : roundSeed(req.seed, progress[d.i].rounds);
      return sampleAndRerank({ ...cfg, model: d.model }, [{ input: req.inputs[d.i] as LmInput, units: d.k, seed }], req.params).then(([r]) => r);
    });
    draws.forEach((d, k) => {
      const r = results[k];
      const p = progress[d.i];
      const better = p.result === null || (r.reward ?? -Infinity) > (p.result.reward ?? -Infinity);
      p.result = p.result === null ? r : merge(p.result, r);
      if (better) p.model = d.model;
      p.samples += d.k;
      p.units += d.k * d.unitCost;
      p.rounds++;
      if (p.query) p.query = { ...p.query, state: afterRound(p.query.arms, p.query.state, d.arm, r.rewards) };
      spent += d.k * d.unitCost;
    });
  }
  if (progress.some((d) => d.result === null)) throw new Unavailable({ message: "no sample was drawn", reason: "no sample was drawn", retryable: true });
  return { progress, spent: Math.round(spent * 1e9) / 1e9, budgetLimited };
}

/** Prompt i's draw in round `round`, or none. */
function nextDraw(i: number, plan: PromptPlan, p: Progress, round: number, price: number, maxRounds: number): RoundDraw[] {
  if (plan.kind === "fixed") {
    if (round > 0) return [];
    const opt = plan.options[p.option];
    return [{ i, model: opt.model, arm: 0, k: opt.k, unitCost: opt.cost / opt.k }];
  }
  if (p.rounds >= maxRounds) return [];
  const d: Draw | null = drawAtPrice(p.query!, price, { last: p.rounds === maxRounds - 1 });
  return d ? [{ i, model: plan.models[d.arm], arm: d.arm, k: d.count, unitCost: p.query!.arms[d.arm].cost }] : [];
}

/**
 * A round cut to `units`: each prompt keeps one of its options no dearer than its draw
 * (fewer samples, or for a fixed plan a cheaper one), chosen by the menu solver for the
 * units there are (allocation/fit.ts); a prompt may be left out (it keeps what it drew).
 */
function fitRound(draws: readonly RoundDraw[], plans: readonly PromptPlan[], progress: readonly Progress[], units: number): RoundDraw[] {
  const menus = draws.map((d) => {
    const plan = plans[d.i];
    const started = progress[d.i].result !== null;
    if (plan.kind === "fixed") {
      const opts = plan.options.map((x, k) => ({ cost: x.cost, value: x.value, draw: { ...d, model: x.model, k: x.k, unitCost: x.cost / x.k, option: k } }));
      return started ? [{ cost: 0, value: 0, draw: null }, ...opts] : opts;
    }
    // Rounds: fewer samples of the same arm, valued by the path's gains.
    const path = pathOf(progress[d.i].query!);
    let value = 0;
    const opts = Array.from({ length: d.k }, (_, j) => ({ cost: (j + 1) * d.unitCost, value: (value += path[j]?.gain ?? 0), draw: { ...d, k: j + 1, option: 0 } }));
    return [{ cost: 0, value: 0, draw: null }, ...opts];
  });
  const affordable = menus.map((m) => m.filter((x) => x.cost <= units));
  if (affordable.some((m) => m.length === 0)) {
    // Not even the cheapest option of every unstarted prompt fits: serve those that fit, in order.
    let left = units;
    return affordable.flatMap((m) => {
      const pick = m.filter((x) => x.draw && x.cost <= left).pop();
      if (!pick || !pick.draw) return [];
      left -= pick.cost;
      return [pick.draw];
    });
  }
  const picks = fitToBudget(affordable, affordable.map((m) => m.length - 1), units);
  return affordable.flatMap((m, k) => {
    const pick = m[picks[k]];
    if (!pick.draw) return [];
    if (plans[pick.draw.i].kind === "fixed") progress[pick.draw.i].option = pick.draw.option;
    return [pick.draw];
  });
}

/** The better of two rounds' results (the earlier on a tie), with every sample's tokens counted. */
function merge(a: RerankResult, b: RerankResult): RerankResult {
  const keep = (b.reward ?? -Infinity) > (a.reward ?? -Infinity) ? b : a;
  return {
    ...keep,
    samples: [...a.samples, ...b.samples],
    rewards: [...a.rewards, ...b.rewards],
    promptTokens: a.promptTokens + b.promptTokens,
    completionTokens: a.completionTokens + b.completionTokens,
  };
}

export { allotHeaders } from "./headers.js";
export type { FixedPlan };

/**
 * One online request, whatever its wire format: reserve what it is expected to spend,
 * predict each prompt's curve, plan at the tenant's price, and draw round after round,
 * topping the reservation up before each round (and cutting the round to what the budget
 * holds when it holds less), ranking and keeping the best, then charge what was drawn and
 * let the price controller see it. The OpenAI-compatible routes only translate in and out.
 *
 * Every LM call is inside the budget: the prompts' prefills (hidden states, PREFILL_UNITS
 * each) and every sample. The reservation is a lease (ONLINE_LEASE_SECONDS) the request
 * renews while it works (ledger calls renew it, and a heartbeat every third of a lease);
 * a request that cannot renew stops drawing, and its answer is only what was drawn and
 * charged. A whole answer is returned only once its charge is recorded; a streamed one
 * (one sample, `live`) is charged when its stream ends.
 *
 * The client's options and the verifier: `stop` is applied by allot to the answers it
 * keeps, after they are scored, so the reward model judges whole answers (a stop that
 * cuts every answer short cannot make every sample fail); it is sent to the LM only when
 * one sample is drawn, since then nothing is chosen. Options allot passes on that shape
 * the answers (max_tokens, response_format, logit_bias, …) are what the client asked for:
 * when every sample of a prompt that drew several was cut by max_tokens, or scored
 * nothing under such options, the answer says so (`warnings`).
 */
import { fitToBudget } from "../../core/allocation/fit.js";
import { roundSeed } from "../../core/allocation/waves.js";
import { type RerankResult, type StreamPiece, combine, cutAtStop, mapBounded, sampleAndRerank, streamOne } from "../../core/backends/best-of-k.js";
import type { SamplingParams } from "../../core/backends/completions.js";
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
import { findPredictor, findRouter, knownModel } from "../predictor/registry.js";
import { type BudgetHome, type OnlineAccount, accountOf } from "../tenants/account.js";
import { refusalError } from "../tenants/budget-error.js";
import type { Begun } from "../tenants/online-settings.js";
import { Channel } from "./channel.js";
import { type FixedPlan, type PromptPlan, type RoundsPlan, planBestOfK, planRoute, plannedUnits } from "./plan.js";
import { auditServed, picksAudit } from "./audit.js";
import { planThinking } from "./plan-thinking.js";
import { recordOf } from "./record.js";
import type { OnlineTally } from "./unbegun.js";
import { type Answer, GREEDY_TEMPERATURE, type OnlineRequest, type OnlineResult, type ServedChoice } from "./request.js";

export { GREEDY_TEMPERATURE, pinnedUnits, roundsCap, type Answer, type OnlineRequest, type OnlineResult, type ServedChoice } from "./request.js";

/** LM calls one request has in flight at once (the Workers limit on simultaneous connections). */
const IN_FLIGHT = 6;

/** What one prompt has drawn so far. */
interface Progress {
  result: RerankResult | null;
  samples: number;
  rounds: number;
  units: number;
  /** The model whose sample is kept, and the arm it was drawn from (a thinking level, a router's model). */
  model: string;
  arm: number;
  /** The sequential core's query, for a prompt served in rounds. */
  query: RoundsPlan["query"] | null;
  /** The fixed plan's option drawn (or to draw), for a prompt served in one round. */
  option: number;
  /** The model of its first sample and that model's predicted single-sample success (the console's calibration). */
  first: { model: string; predicted: number | null } | null;
  /** Samples drawn per model and their units (a router's prompt may draw from several). */
  byModel: Record<string, { samples: number; units: number }>;
  /** A thinking model's: the budget each round's samples thought under (null: none sent), and the tokens generated and spent thinking. */
  thinking: { budgets: (number | null)[]; tokens: number; reasoningTokens: number } | null;
}

/** This round's draw for prompt i: a model and k samples at a cost per sample, or nothing. */
interface RoundDraw {
  readonly i: number;
  readonly model: string;
  readonly arm: number;
  readonly k: number;
  readonly unitCost: number;
  /** A thinking model's budget per sample, in tokens (absent: none sent). */
  readonly budget?: number;
  /** A thinking model's most units per sample: what is reserved before drawing (absent: unitCost). */
  readonly ceiling?: number;
  /** Set for a thinking model: the draw is charged the tokens it generated, this many to a unit. */
  readonly tokensPerUnit?: number;
}

/**
 * What a draw sends: a thinking model's samples, unless the client capped their tokens,
 * may generate up to their ceiling (completions default to 16 tokens on vLLM, which
 * would cut the thinking a budget allows).
 */
const paramsFor = (d: RoundDraw, params: SamplingParams): SamplingParams =>
  d.tokensPerUnit && d.ceiling !== undefined && params.maxTokens === undefined ? { ...params, maxTokens: Math.max(1, Math.floor(d.ceiling * d.tokensPerUnit + 1e-9)) } : params;

/** Units reserved before drawing `d`: each sample's ceiling (a thinking model) or cost. */
const reserveOf = (d: RoundDraw): number => d.k * (d.ceiling ?? d.unitCost);

/** Units a drawn round costs: the tokens it generated for a thinking model, else its samples' cost. */
const usedBy = (d: RoundDraw, r: RerankResult): number => (d.tokensPerUnit ? r.completionTokens / d.tokensPerUnit : d.k * d.unitCost);

/** A request being served: its answer's pieces as the LM streams them (one planned sample, asked for live), and its result. */
export interface Serving {
  /** The one sample's pieces as they come; null when the request draws more than one sample or was not asked live. */
  readonly live: AsyncIterable<StreamPiece> | null;
  /** The model the live sample is drawn from ("" when not live). */
  readonly model: string;
  /** Everything drawn, ranked and charged. */
  readonly result: Promise<OnlineResult>;
}

/** A promise with its resolve and reject outside. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * Serves the request and waits for its result. `home` is where its budget lives
 * (authentication says: the tenant's ledger or one of its budget shards). `waitUntil` (the
 * Worker's ExecutionContext's) keeps the drawing and the settlement running when the
 * client goes away, so what was drawn is charged and the rest released.
 */
export async function serveOnline(env: Env, home: BudgetHome, req: OnlineRequest, waitUntil: (p: Promise<unknown>) => void = () => {}): Promise<OnlineResult> {
  return (await startOnline(env, home, req, waitUntil)).result;
}

/**
 * Starts serving the request: resolves once it is planned (a refusal, an invalid request,
 * an unknown model throw here, before any answer is sent) and, asked `live` for a request
 * whose plan is one sample, once the LM has started streaming it (its refusal throws here
 * too). The rest goes on in `waitUntil`. `tally` is told when the request reaches its
 * ledger (online/unbegun.ts counts the errors answered before).
 */
export async function startOnline(env: Env, home: BudgetHome, req: OnlineRequest, waitUntil: (p: Promise<unknown>) => void = () => {}, opts: { live?: boolean; tally?: OnlineTally } = {}): Promise<Serving> {
  const meter = new CallMeter();
  const started = Date.now();
  const config = settings(env);
  const account = accountOf(env, home);
  const greedy = req.params.temperature !== undefined && req.params.temperature < GREEDY_TEMPERATURE;
  const router = await findRouter(env, req.model);
  if (!router && !(await knownModel(env, req.model))) throw modelNotFound(req.model);
  // A model that thinks: allot chooses each prompt's thinking budget, and charges tokens (plan-thinking.ts).
  const thinks = router ? undefined : config.THINKING_MODELS?.get(req.model);
  // Hidden states are read (a prefill per prompt) when a prediction decides: always for a router, else unless pinned or greedy.
  const predicts = router !== null || !(req.pinned || greedy);
  const prefillEach = predicts ? config.PREFILL_UNITS : 0;
  // What the prefills cost; nothing when the deployment could not predict (plan.ts: unpredicted).
  let prefill = prefillEach * req.inputs.length;
  // From here the ledger counts the request, whatever its outcome (online/unbegun.ts counts those that end before).
  if (opts.tally) opts.tally.begun = true;
  const begun = await account.begin({
    key: crypto.randomUUID(),
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
  // Tools: one round, since agreement among calls needs all the samples at once.
  const maxRounds = req.tools ? 1 : (req.rounds?.max ?? begun.max_rounds);
  const priced = !req.pinned && !greedy;
  const lease = keepAlive(account, reservation.id, config.ONLINE_LEASE_SECONDS * 1000);
  const n = req.n ?? 1;
  // Thinking requests are not audited yet: an audit set would need samples at every budget (docs/audits.md).
  const audited = !thinks && picksAudit(begun.audit_rate, { priced, routed: router !== null, tools: req.tools === true });

  // Sampling and settlement run to the end whatever happens to the client.
  let plans: PromptPlan[] = [];
  /** The stop went to the LM (one sample planned): an audit's samples are drawn alike. */
  let stopToLm = false;
  const ready = deferred<{ pieces: AsyncIterable<StreamPiece>; model: string } | null>();
  const work = (async () => {
    try {
      plans = router
        ? await planRoute(env, router, req, begun, greedy, maxRounds, meter)
        : thinks
          ? await planThinking(env, await findPredictor(env, { lmModel: req.model }), thinks, req, begun, greedy, maxRounds, meter)
          : await planBestOfK(env, req, begun, greedy, maxRounds, meter);
      if (plans.some((p) => p.unpredicted)) prefill = 0;
      const cfg = { ...lmConfig(env), meter };
      const o = { tenant: home.tenant, price: begun.price, maxRounds, prefill, lease };
      const one = oneSample(plans, n, begun.price, maxRounds);
      stopToLm = one !== null;
      let served: Drawn;
      if (opts.live && one) {
        served = await streamSample(cfg, account, reservation, req, plans[0], one, o, ready.resolve);
      } else {
        ready.resolve(null);
        served = await drawRounds(cfg, account, reservation, req, plans, { ...o, stopToLm: one !== null });
      }
      // The price sees what the price decided: for rounds what they drew, else the plan's
      // units (even when the budget cut them short); nothing of pinned or greedy requests.
      const observed = priced ? plans.map((p, i) => (p.kind === "rounds" ? served.progress[i].units : plannedUnits(p))) : null;
      await account.finish(reservation.id, served.spent, observed, recordOf(req, 200, priced, meter, started, plans, served.progress, observed));
      return served;
    } catch (e) {
      await account.release(reservation.id, recordOf(req, httpError(e).status, priced, meter, started, plans));
      throw e;
    } finally {
      lease.stop();
    }
  })();
  waitUntil(work.catch(() => undefined));
  // An audit draws the rest of its samples once the answer is charged (online/audit.ts): outside the budget, after the client has its answer.
  if (audited) {
    const params: SamplingParams = stopToLm && req.stop?.length ? { ...req.params, stop: req.stop } : req.params;
    waitUntil(work.then((served) => auditServed(env, home.tenant, req, plans, served.progress, begun.max_units, params)).catch(() => undefined));
  }
  const failed = (e: unknown): never => {
    if (isUpstream(e)) {
      const sent = ["temperature", "top_p", "max_tokens", "stop", "seed", ...Object.keys(req.params.extra ?? {})];
      throw upstreamError(e, "sampling", "messages" in req.inputs[0] ? "messages" : "prompt", sent);
    }
    throw e;
  };
  const live = await Promise.race([ready.promise, work.then(() => null)]).catch(failed);
  const result = work.then((served) => resultOf(req, plans, served, begun, reservation.units, prefill, greedy, n), failed);
  result.catch(() => undefined);
  return { live: live?.pieces ?? null, model: live?.model ?? "", result };
}

/** What drawing gave: each prompt's progress, the units spent in all, and whether the budget cut the plan. */
interface Drawn {
  readonly progress: Progress[];
  readonly spent: number;
  readonly budgetLimited: boolean;
}

/** The result of a request that drew `served`. */
function resultOf(req: OnlineRequest, plans: readonly PromptPlan[], served: Drawn, begun: Begun, reserved: number, prefill: number, greedy: boolean, n: number): OnlineResult {
  const choices: ServedChoice[] = served.progress.map((d, i) => ({
    model: d.model,
    samples: d.samples,
    units: d.units,
    predicted: req.pinned || greedy ? null : predictedOf(plans[i], d),
    rounds: d.rounds,
    result: d.result!,
    answers: answersOf(d.result!, n, req.stop ?? []),
    ...(d.thinking ? { thinking: { budgets: d.thinking.budgets, tokens: d.thinking.tokens, reasoning_tokens: d.thinking.reasoningTokens } } : {}),
  }));
  const planned = plans.reduce((s, p) => s + plannedUnits(p), 0);
  const budget = begun.budget ? { limit: begun.budget.limit, remaining: Math.max(0, begun.budget.remaining + reserved - served.spent), resetsAt: begun.budget.resetsAt } : null;
  return { choices, price: begun.price, planned, budgetLimited: served.budgetLimited, units: served.spent, prefill, warnings: [...unpredictedWarning(plans), ...warningsOf(req, choices)], budget };
}

/** The first `n` samples of the ranking, with the client's stop applied. */
function answersOf(r: RerankResult, n: number, stop: readonly string[]): Answer[] {
  return r.order.slice(0, n).map((i) => {
    const d = r.drawn[i];
    const cut = d.toolCalls ? null : cutAtStop(d.text, stop);
    return {
      text: cut ? cut.text : d.text,
      toolCalls: d.toolCalls,
      reasoning: d.reasoning,
      finishReason: d.toolCalls ? "tool_calls" : cut?.stopped ? "stop" : d.finishReason,
      logprobs: d.logprobs,
      reward: d.reward,
    };
  });
}

/** Request fields passed on that shape answers, as the warnings name them. */
const SHAPING = ["response_format", "logit_bias", "frequency_penalty", "presence_penalty", "structured_outputs", "guided_json", "guided_regex", "guided_choice", "guided_grammar", "regex", "ebnf", "json_schema"];

/** What the client's options did to what the reward model could judge, for prompts that drew several samples. */
/** Said when the deployment could not predict and the tenant's target was served (plan.ts: unpredicted). */
function unpredictedWarning(plans: readonly PromptPlan[]): string[] {
  const fault = plans.find((p) => p.unpredicted)?.unpredicted;
  return fault ? [`served the tenant's target units without a prediction, because the deployment cannot predict for this request (see /readyz): ${fault}`] : [];
}

function warningsOf(req: OnlineRequest, choices: readonly ServedChoice[]): string[] {
  const out: string[] = [];
  const which = (i: number) => (choices.length > 1 ? `prompt ${i}: ` : "");
  choices.forEach((c, i) => {
    const drawn = c.result.drawn;
    if (drawn.length < 2) return;
    if (drawn.every((d) => d.finishReason === "length")) {
      out.push(`${which(i)}all ${drawn.length} samples stopped at the token limit (max_tokens ${req.params.maxTokens ?? "the server's default"}): the reward model judged cut answers; allow more tokens`);
      return;
    }
    const shaping = [...(req.params.maxTokens !== undefined ? ["max_tokens"] : []), ...SHAPING.filter((f) => req.params.extra?.[f] !== undefined)];
    const scored = drawn.filter((d) => d.reward !== null);
    if (shaping.length > 0 && scored.length === drawn.length && scored.every((d) => (d.reward ?? 0) <= 0)) {
      out.push(`${which(i)}all ${drawn.length} samples scored 0 under ${shaping.join(", ")}: the reward model judged the answers as these options shaped them`);
    }
  });
  return out;
}

/** The predicted single-sample success of the model that answered. */
function predictedOf(plan: PromptPlan, d: Progress): number | null {
  if (plan.kind === "fixed") return plan.options[d.option].predicted;
  return plan.predicted[d.arm] ?? null;
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

const startProgress = (p: PromptPlan): Progress => ({
  result: null,
  samples: 0,
  rounds: 0,
  units: 0,
  model: p.kind === "fixed" ? p.options[p.chosen].model : p.models[0],
  arm: 0,
  query: p.kind === "rounds" ? p.query : null,
  option: p.kind === "fixed" ? p.chosen : 0,
  first: null,
  byModel: {},
  thinking: p.tokensPerUnit ? { budgets: [], tokens: 0, reasoningTokens: 0 } : null,
});

/** Counts draw `d` (k samples of a model, costing `units`) in the prompt's progress by model, and notes its first. */
function countDraw(p: Progress, plan: PromptPlan, d: RoundDraw, r: RerankResult, units: number): void {
  if (p.first === null) p.first = { model: d.model, predicted: plan.kind === "fixed" ? plan.options[p.option].predicted : (plan.predicted[d.arm] ?? null) };
  const m = (p.byModel[d.model] ??= { samples: 0, units: 0 });
  m.samples += d.k;
  m.units += units;
  if (p.thinking) {
    p.thinking.budgets.push(d.budget ?? null);
    p.thinking.tokens += r.completionTokens;
    p.thinking.reasoningTokens += r.reasoningTokens;
  }
}

/** The request's one draw when its plan is one sample of one prompt (nothing then to choose between), else null. */
function oneSample(plans: readonly PromptPlan[], n: number, price: number, maxRounds: number): RoundDraw | null {
  if (plans.length !== 1 || n !== 1) return null;
  const [d] = nextDraw(0, plans[0], startProgress(plans[0]), 0, price, maxRounds);
  // A thinking model's sample is charged by its tokens and may take two calls: drawn whole.
  if (!d || d.k !== 1 || d.tokensPerUnit) return null;
  return plans[0].kind === "fixed" || plans[0].cap <= d.unitCost ? d : null;
}

type Settling = { tenant: string; price: number; maxRounds: number; prefill: number; lease: { signal: AbortSignal } };

/** Holds what `need` more units cost, charging what was spent; the units held after. */
async function holdFor(account: OnlineAccount, id: string, spent: number, need: number, held: number): Promise<number> {
  if (spent + need <= held) return held;
  // One ledger call: charge what was drawn so far, hold what this round needs.
  const grown = await account.step(id, spent, need);
  if (grown === null) throw new TryLater({ message: "this request's budget reservation ended while it was drawing; retry" });
  return grown.units;
}

/**
 * The one sample of a request, streamed: the LM's stream is opened (its refusal throws
 * before `started` is told), its pieces relayed as they come, and the sample scored when
 * it ends (its reward is for the console: nothing is chosen).
 */
async function streamSample(
  cfg: LmConfig,
  account: OnlineAccount,
  reservation: { id: string; units: number },
  req: OnlineRequest,
  plan: PromptPlan,
  d: RoundDraw,
  o: Settling,
  started: (live: { pieces: AsyncIterable<StreamPiece>; model: string }) => void,
): Promise<Drawn> {
  const progress = startProgress(plan);
  let spent = Math.round(o.prefill * 1e9) / 1e9;
  const held = await holdFor(account, reservation.id, spent, d.unitCost, reservation.units);
  if (spent + d.unitCost > held) throw new BudgetExceeded({ tenant: o.tenant, message: `the budget holds ${Math.max(0, held - spent)} units for this request, less than its cheapest sample` });
  o.lease.signal.throwIfAborted();
  const params: SamplingParams = { ...req.params, ...(req.stop?.length ? { stop: req.stop } : {}) };
  const stream = await streamOne({ ...cfg, model: d.model }, { input: req.inputs[0] as LmInput, seed: req.seed }, params, { signal: o.lease.signal });
  const channel = new Channel<StreamPiece>();
  started({ pieces: channel, model: d.model });
  try {
    for await (const piece of stream.pieces) channel.push(piece);
  } catch (e) {
    channel.fail(e);
    throw e;
  }
  // Scored before the stream closes, so its last chunk can carry the reward.
  const r = await stream.result().catch((e) => {
    channel.fail(e);
    throw e;
  });
  progress.result = r;
  countDraw(progress, plan, d, r, d.unitCost);
  progress.model = d.model;
  progress.arm = d.arm;
  progress.samples = 1;
  progress.units = d.unitCost;
  progress.rounds = 1;
  if (progress.query) progress.query = { ...progress.query, state: afterRound(progress.query.arms, progress.query.state, d.arm, r.rewards) };
  spent += d.unitCost;
  channel.close();
  return { progress: [progress], spent: Math.round(spent * 1e9) / 1e9, budgetLimited: false };
}

/**
 * The rounds: each prompt's next draw (a fixed plan's one round; a rounds plan's next draw
 * at the price), the reservation topped up to pay for them (and the round cut to fit when
 * it holds less), drawn, ranked, and the sequential state updated; until no prompt draws.
 */
async function drawRounds(
  cfg: LmConfig,
  account: OnlineAccount,
  reservation: { id: string; units: number },
  req: OnlineRequest,
  plans: readonly PromptPlan[],
  o: Settling & { stopToLm: boolean },
): Promise<Drawn> {
  const progress: Progress[] = plans.map(startProgress);
  const n = req.n ?? 1;
  let held = reservation.units;
  let spent = Math.round(o.prefill * 1e9) / 1e9;
  let budgetLimited = false;
  const params: SamplingParams = o.stopToLm && req.stop?.length ? { ...req.params, stop: req.stop } : req.params;
  for (let round = 0; ; round++) {
    let draws = plans.flatMap((p, i) => nextDraw(i, p, progress[i], round, o.price, o.maxRounds));
    if (draws.length === 0) break;
    o.lease.signal.throwIfAborted();
    const need = draws.reduce((s, d) => s + reserveOf(d), 0);
    held = await holdFor(account, reservation.id, spent, need, held);
    if (spent + need > held) {
      budgetLimited = true;
      draws = fitRound(draws, plans, progress, held - spent, n);
      if (draws.length === 0) {
        if (progress.some((d) => d.samples < n)) throw new BudgetExceeded({ tenant: o.tenant, message: `the budget holds ${Math.max(0, held - spent)} units for this request, less than it needs for n = ${n} sample(s) of each prompt` });
        break;
      }
    }
    const results = await mapBounded(draws, IN_FLIGHT, (d) => {
      o.lease.signal.throwIfAborted();
      const seed = round === 0 && plans[d.i].kind === "fixed" ? req.seed : roundSeed(req.seed, progress[d.i].rounds);
      const sent = paramsFor(d, params);
      return sampleAndRerank({ ...cfg, model: d.model }, [{ input: req.inputs[d.i] as LmInput, units: d.k, seed, ...(d.budget !== undefined ? { budget: d.budget } : {}), ownMaxTokens: sent !== params }], sent).then(([r]) => r);
    });
    draws.forEach((d, k) => {
      const r = results[k];
      const p = progress[d.i];
      const merged = p.result === null ? r : combine(p.result, r);
      // The kept sample is this round's when the ranking puts one of its samples first.
      if (p.result === null || merged.order[0] >= p.result.drawn.length) {
        p.model = d.model;
        p.arm = d.arm;
      }
      const used = usedBy(d, r);
      countDraw(p, plans[d.i], d, r, used);
      p.result = merged;
      p.samples += d.k;
      p.units += used;
      p.rounds++;
      if (p.query) p.query = { ...p.query, state: afterRound(p.query.arms, p.query.state, d.arm, r.rewards, used) };
      spent += used;
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
    return [{ i, model: opt.model, arm: 0, k: opt.k, unitCost: opt.cost / opt.k, ...thinkingOf(plan, opt.budget, opt.ceiling) }];
  }
  if (p.rounds >= maxRounds) return [];
  const d: Draw | null = drawAtPrice(p.query!, price, { last: p.rounds === maxRounds - 1 });
  return d ? [{ i, model: plan.models[d.arm], arm: d.arm, k: d.count, unitCost: p.query!.arms[d.arm].cost, ...thinkingOf(plan, plan.thinking?.budgets[d.arm], plan.thinking?.ceiling[d.arm]) }] : [];
}

/** A thinking model's part of a draw: its budget, its samples' ceiling and how its tokens are charged. */
function thinkingOf(plan: PromptPlan, budget: number | undefined, ceiling: number | undefined): Pick<RoundDraw, "budget" | "ceiling" | "tokensPerUnit"> {
  if (!plan.tokensPerUnit) return {};
  return { tokensPerUnit: plan.tokensPerUnit, ...(budget !== undefined ? { budget } : {}), ...(ceiling !== undefined ? { ceiling } : {}) };
}

/**
 * A round cut to `units`: each prompt keeps one of its options no dearer than its draw
 * (fewer samples, or for a fixed plan a cheaper one), chosen by the menu solver for the
 * units there are (allocation/fit.ts); a prompt may be left out (it keeps what it drew).
 * A prompt that has not drawn its n samples keeps at least what brings it to n.
 */
function fitRound(draws: readonly RoundDraw[], plans: readonly PromptPlan[], progress: readonly Progress[], units: number, n: number): RoundDraw[] {
  const menus = draws.map((d) => {
    const plan = plans[d.i];
    const started = progress[d.i].result !== null;
    const owed = Math.max(0, n - progress[d.i].samples);
    if (plan.kind === "fixed") {
      const opts = plan.options.map((x, k) => {
        const draw = { ...d, model: x.model, k: x.k, unitCost: x.cost / x.k, ...thinkingOf(plan, x.budget, x.ceiling), option: k };
        return { cost: reserveOf(draw), value: x.value, draw };
      });
      return started ? [{ cost: 0, value: 0, draw: null }, ...opts] : opts;
    }
    // Rounds: fewer samples of the same arm, valued by the path's gains.
    const path = pathOf(progress[d.i].query!);
    let value = 0;
    const opts = Array.from({ length: d.k }, (_, j) => ({ cost: (j + 1) * (d.ceiling ?? d.unitCost), value: (value += path[j]?.gain ?? 0), draw: { ...d, k: j + 1, option: 0 } })).filter((x) => x.draw.k >= owed);
    return owed > 0 ? opts : [{ cost: 0, value: 0, draw: null }, ...opts];
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

export { allotHeaders } from "./headers.js";
export type { FixedPlan };

/**
 * `allot doctor`'s "thinking" role: for each model of THINKING_MODELS, the probe sent
 * through its thinking backend (the very calls the gateway makes, backends/thinking.ts)
 * at budget 0 and at a small budget N, and whether the server took the budget and kept
 * to it. A server can accept the field and ignore it: vLLM before thinking_token_budget
 * keeps unknown fields (extra="allow"), and a vLLM that has it but was started without a
 * reasoning parser builds no budget state (maybe_create_thinking_budget_state_holder
 * returns None when reasoning_config is None, vllm/v1/sample/thinking_budget_state.py),
 * so only the thinking the server returns shows whether the cap holds.
 */
import type { Sampled } from "./backends/completions.js";
import { thinkingBackend, type ThinkingModel, runThinking } from "./backends/thinking.js";
import { AllotError, Misconfigured, UpstreamRefused, isUpstream } from "./errors.js";
import type { RetryPolicy } from "./lm/http.js";

/** The small budget probed besides 0. */
export const PROBE_BUDGET = 8;
/**
 * Tokens over the budget still counted as kept: the markers (a server may count the forced
 * end marker, or one newline SGLang forces before it, as reasoning).
 */
export const BUDGET_SLACK = 2;
/**
 * A sum the thinking reference LM thinks about for more than PROBE_BUDGET tokens at no
 * budget (its thinking is one line per addition), and any reasoning model thinks about.
 */
export const THINKING_PROBE = "17+305+9+48+6=";

export interface ThinkingFinding {
  readonly level: "ok" | "warn" | "error";
  readonly message: string;
}

/** How many thinking tokens one sample spent, and how that was read. */
export interface Measured {
  readonly tokens: number | null;
  readonly how: "usage" | "reasoning text" | "markers" | "none";
}

/**
 * The thinking of a one-sample result: usage.completion_tokens_details.reasoning_tokens
 * when the server reports it; else the reasoning text (chat: `reasoning` or
 * `reasoning_content`) or the text between the markers, in tokens estimated as that
 * text's share of the completion tokens, the markers a token each (no tokenizer here:
 * exact at 0, near elsewhere).
 */
export function measureThinking(r: Sampled, markers: { start: string; end: string }): Measured {
  if (r.reasoningTokens !== null) return { tokens: r.reasoningTokens, how: "usage" };
  const s = r.samples[0];
  const text = s.text;
  // A server that counts no completion tokens for a text gives nothing to estimate from.
  if (r.completionTokens <= 0) return { tokens: null, how: "none" };
  // The markers are a token each on the models that have them: out of the share, so they do not dilute it.
  const share = (thought: string, chars: number, tokens: number) => (thought.length === 0 ? 0 : Math.max(1, Math.round((Math.max(0, tokens) * thought.length) / Math.max(1, chars))));
  if (s.reasoning) return { tokens: share(s.reasoning.text, s.reasoning.text.length + text.length, r.completionTokens), how: "reasoning text" };
  const a = text.indexOf(markers.start);
  if (a < 0) return { tokens: null, how: "none" };
  const rest = text.slice(a + markers.start.length);
  const b = rest.indexOf(markers.end);
  const marks = b < 0 ? 1 : 2;
  const chars = text.length - markers.start.length - (b < 0 ? 0 : markers.end.length);
  return { tokens: share(b < 0 ? rest : rest.slice(0, b), chars, r.completionTokens - marks), how: "markers" };
}

/** What to change when the server refuses the budget's request, by backend. */
function refusedHint(kind: ThinkingModel["backend"]["kind"]): string {
  switch (kind) {
    case "vllm":
      return "the server refuses thinking_token_budget: it is vLLM's field (≥ 0.20, PR #20859) and applies to a model with thinking (start vLLM with --reasoning-parser, e.g. qwen3); on another server set THINKING_MODELS' backend to reasoning-effort or budget-forcing";
    case "sglang":
      return "start SGLang with --enable-custom-logit-processor, and give THINKING_MODELS a processor printed by this SGLang's ThinkingBudgetLogitProcessor subclass (to_str())";
    case "reasoning-effort":
      return "the server refuses reasoning_effort or its level: the levels in THINKING_MODELS must be ones the server accepts (vLLM ≥ 0.16: none, minimal, low, medium, high, xhigh, max; before: low, medium, high)";
    case "budget-forcing":
      return "budget forcing continues the raw prompt with the thinking markers through /v1/completions: check the markers (start, end) are the model's, and that the server serves /v1/completions";
  }
}

/** Why a server may accept a budget and not keep to it, by backend. */
function ignoredHint(kind: ThinkingModel["backend"]["kind"]): string {
  switch (kind) {
    case "vllm":
      return "vLLM before 0.20 keeps thinking_token_budget as an unknown field and ignores it, and a vLLM that has it ignores it without --reasoning-parser (no reasoning config: no budget state, vllm/v1/sample/thinking_budget_state.py); upgrade, or start it with --reasoning-parser (and --reasoning-config for custom markers)";
    case "sglang":
      return "older SGLang drops a custom logit processor without --enable-custom-logit-processor, with only a warning; or the processor is not the model's (its thinking markers differ)";
    case "reasoning-effort":
      return "the server passes reasoning_effort to the chat template only (stock vLLM, vLLM issue #44676): the levels do not cap thinking; set THINKING_MODELS' backend to vllm or budget-forcing";
    case "budget-forcing":
      return "the thinking call's max_tokens did not bound it: check the markers (start, end) are the model's";
  }
}

/**
 * The findings for one thinking model at `url`: the probe at budget 0 and at PROBE_BUDGET.
 *
 * @example await checkThinking("http://lm:8000", "thinking", { backend: { kind: "vllm" }, max_tokens: 1024 }, policy, THINKING_PROBE)
 */
export async function checkThinking(url: string, apiKey: string | undefined, model: string, tm: ThinkingModel, policy: RetryPolicy, prompt: string = THINKING_PROBE): Promise<ThinkingFinding[]> {
  const backend = thinkingBackend(tm.backend);
  const kind = tm.backend.kind;
  const markers = tm.backend.kind === "budget-forcing" ? { start: tm.backend.start, end: tm.backend.end } : { start: "<think>", end: "</think>" };
  // Greedy, one sample, room for thinking past N + slack (so an ignored budget shows) within a small model's context (the reference LMs: 32 tokens).
  const params = { temperature: 0, topP: 1, maxTokens: 16 };
  const at = async (budget: number): Promise<{ ok: true; r: Sampled } | { ok: false; message: string; refused: boolean }> => {
    try {
      const step = backend(model, { prompt }, 1, params, 0, budget);
      return { ok: true, r: await runThinking({ url, apiKey, role: "sampling" }, step, policy) };
    } catch (e) {
      const refused = (e instanceof UpstreamRefused && e.upstreamStatus >= 400 && e.upstreamStatus < 500) || e instanceof Misconfigured;
      if (e instanceof Misconfigured) return { ok: false, message: e.reason, refused };
      if (isUpstream(e) || e instanceof AllotError) return { ok: false, message: e.reason, refused };
      if (e instanceof Error) return { ok: false, message: e.message, refused };
      throw e;
    }
  };
  const zero = await at(0);
  const n = zero.ok ? await at(PROBE_BUDGET) : zero;
  if (!zero.ok || !n.ok) {
    const f = !zero.ok ? zero : (n as { ok: false; message: string; refused: boolean });
    const which = !zero.ok ? 0 : PROBE_BUDGET;
    return [{ level: "error", message: `a request with a thinking budget of ${which} (backend ${kind}) failed: ${f.message}${f.refused ? `; ${refusedHint(kind)}` : ""}` }];
  }
  const m0 = measureThinking(zero.r, markers);
  const mN = measureThinking(n.r, markers);
  const calls = kind === "budget-forcing" ? " (two /v1/completions calls: the thinking, then the answer)" : "";
  if (m0.tokens === null && mN.tokens === null) {
    return [{ level: "warn", message: `the server accepts the budget (backend ${kind})${calls} but reports no thinking: no usage.completion_tokens_details.reasoning_tokens, no reasoning field, no ${markers.start}…${markers.end} in the text. Samples are still charged their completion tokens, but whether the budget caps the thinking cannot be verified` }];
  }
  const t0 = m0.tokens ?? 0;
  const tN = mN.tokens ?? 0;
  const how = mN.how === "usage" || m0.how === "usage" ? "reasoning_tokens as the server reports them" : `estimated from the ${mN.how === "none" ? m0.how : mN.how}`;
  const over: string[] = [];
  if (t0 > BUDGET_SLACK) over.push(`${t0} tokens at a budget of 0`);
  if (tN > PROBE_BUDGET + BUDGET_SLACK) over.push(`${tN} tokens at a budget of ${PROBE_BUDGET}`);
  if (over.length > 0) {
    const same = t0 === tN ? " (the same at both: the budget changes nothing)" : "";
    return [{ level: "error", message: `the budget is not enforced: the probe thought ${over.join(" and ")}${same}, ${how}; ${ignoredHint(kind)}` }];
  }
  if (kind === "budget-forcing") {
    // The second call continues prompt + thinking + end: it must give an answer, or a budgeted request answers nothing.
    const text = n.r.samples[0].text;
    const answer = text.slice(text.lastIndexOf(markers.end) + markers.end.length);
    if (answer.trim() === "") return [{ level: "error", message: `budget forcing's answer call (the second /v1/completions call, continuing the prompt, the thinking and ${markers.end}) gave no text at a budget of ${PROBE_BUDGET}: check the markers (start, end) are the model's` }];
  }
  if (tN === 0) {
    return [{ level: "warn", message: `the server accepts the budget (backend ${kind})${calls}, but the model did not think on the probe at a budget of ${PROBE_BUDGET} (${JSON.stringify(prompt)}): whether the budget caps the thinking cannot be verified; samples are still charged their completion tokens` }];
  }
  return [{ level: "ok", message: `the budget is kept (backend ${kind})${calls}: thinking ${t0} tokens at a budget of 0 and ${tN} at ${PROBE_BUDGET}, ${how}` }];
}

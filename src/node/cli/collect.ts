import { resolve } from "node:path";
import { REWARD_BACKENDS } from "../../core/backends/rewards.js";
import { collect } from "../pipeline/collect.js";
import { intFlag, numberFlag, parseFlags } from "./args.js";
import { CliError } from "./io.js";

export const usage = `allot collect --prompts PROMPTS.jsonl --out DATA.jsonl [--lm http://127.0.0.1:8000] [--model strong]
              [--hidden-url URL] [--hidden-states vllm-pooling|sglang-generate]
              [--reward verifier-binary] [--reward-url URL] [--rewards ${Object.keys(REWARD_BACKENDS).join("|")}]
              [--reward-label INDEX|NAME] [--chat]
              [--samples 32] [--temperature 0.8] [--max-tokens 12] [--seed 1] [--batch 8] [--concurrency 4] [--api-key KEY]
              [--thinking-budgets 0,4,8,16,32,64]

For each prompt: its hidden state (vLLM /pooling, from --hidden-url: a vLLM instance
generates or pools, never both, so this is usually a pooling instance of the same
weights; default --lm), K samples (/v1/completions with n, from --lm) and their rewards
(a reward model at --reward-url, default --lm; --reward-label: which of its labels is
the reward, default the last), one JSON line per prompt in DATA.
--chat: each prompt is asked as a conversation (the line's "messages", or its prompt as
the user's message): hidden states of the conversation through the server's chat
template with the generation prompt, samples from /v1/chat/completions, rewards of the
conversation; a predictor trained on it serves chat requests (and only those).
The gateway must read hidden states the same way: HIDDEN_STATES_URL, HIDDEN_STATES,
REWARD_LABEL.
Resumable: run the same command again after a crash or Ctrl-C and it carries on.

--thinking-budgets: a thinking model's K samples at each thinking budget (sent as
vLLM's thinking_token_budget, with return_token_ids so that each sample's tokens are
recorded, and the reasoning tokens from usage); then --max-tokens defaults to 70, which
must cover the thinking and the answer. \`allot train\` fits reward against budget on such data.`;

export async function runCollect(args: string[]): Promise<void> {
  const f = parseFlags(args, {
    prompts: { type: "string" },
    out: { type: "string" },
    lm: { type: "string", default: "http://127.0.0.1:8000" },
    model: { type: "string", default: "strong" },
    reward: { type: "string", default: "verifier-binary" },
    "reward-url": { type: "string" },
    "hidden-url": { type: "string" },
    "hidden-states": { type: "string", default: "vllm-pooling" },
    rewards: { type: "string", default: "vllm-pooling" },
    "reward-label": { type: "string" },
    chat: { type: "boolean", default: false },
    samples: { type: "string" },
    temperature: { type: "string" },
    "max-tokens": { type: "string" },
    seed: { type: "string" },
    batch: { type: "string" },
    concurrency: { type: "string" },
    "api-key": { type: "string" },
    "thinking-budgets": { type: "string" },
  });
  if (!f.prompts || !f.out) throw new CliError("--prompts and --out are required");
  if (f["reward-label"] !== undefined && !/^(-?\d{1,3}|[\w .:/-]{1,64})$/.test(String(f["reward-label"]))) {
    throw new CliError(`--reward-label must be a label index (0, 1, …; -1 is the last) or a label name, got ${JSON.stringify(f["reward-label"])}`);
  }
  const budgets = f["thinking-budgets"] === undefined ? undefined : String(f["thinking-budgets"]).split(",").map((b) => intFlag(b, "thinking-budgets", 0, 0));
  if (budgets && budgets.some((b, i) => i > 0 && b <= budgets[i - 1])) throw new CliError(`--thinking-budgets must increase, got ${budgets.join(",")}`);
  const controller = new AbortController();
  process.once("SIGINT", () => {
    process.stderr.write("\nstopping after the requests in flight (their results are kept); run the same command to resume\n");
    controller.abort();
    process.once("SIGINT", () => process.exit(130));
  });
  const result = await collect({
    settings: {
      lm: String(f.lm),
      model: String(f.model),
      reward_url: String(f["reward-url"] ?? f.lm),
      reward_model: String(f.reward),
      samples: intFlag(f.samples, "samples", 32, 1),
      temperature: numberFlag(f.temperature, "temperature", 0.8),
      max_tokens: intFlag(f["max-tokens"], "max-tokens", budgets ? 70 : 12, 1),
      seed: intFlag(f.seed, "seed", 1),
      prompts: resolve(String(f.prompts)),
      hidden_url: String(f["hidden-url"] ?? f.lm),
      hidden_states: String(f["hidden-states"]),
      rewards: String(f.rewards),
      ...(f["reward-label"] !== undefined ? { reward_label: String(f["reward-label"]) } : {}),
      ...(f.chat ? { form: "chat" as const } : {}),
      ...(budgets ? { thinking_budgets: budgets } : {}),
    },
    out: String(f.out),
    batch: intFlag(f.batch, "batch", 8, 1),
    concurrency: intFlag(f.concurrency, "concurrency", 4, 1),
    endpoint: { apiKey: f["api-key"] as string | undefined },
    signal: controller.signal,
    progress: true,
  }).catch((e: Error) => {
    throw new CliError(e.message, 1);
  });
  process.stderr.write(`collected ${result.collected} prompts (${result.skipped} already done, ${result.total} in all) into ${f.out}\n`);
  if (controller.signal.aborted) process.exitCode = 130;
}

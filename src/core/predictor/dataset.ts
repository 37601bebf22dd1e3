import { z } from "zod";
import { type ChatMessage, MessagesSchema, messageText } from "../contracts/lm-protocol.js";

/**
 * A prompt to collect: any JSONL with an id and a prompt, or (for `allot collect --chat`)
 * the conversation to ask (`messages`); other fields ride along as meta.
 */
export const PromptLineSchema = z
  .looseObject({ id: z.string().min(1), prompt: z.string().min(1).optional(), messages: MessagesSchema.optional() })
  .refine((l) => l.prompt !== undefined || l.messages !== undefined, { message: "a prompt line needs a prompt or messages", path: ["prompt"] });
export type PromptLine = z.infer<typeof PromptLineSchema>;

/**
 * The conversation a prompt line asks under --chat: its messages, or its prompt as the
 * user's one message.
 *
 * @example conversationOf({ id: "a", prompt: "12+34=" }) // [{ role: "user", content: "12+34=" }]
 */
export function conversationOf(line: PromptLine): ChatMessage[] {
  return line.messages ?? [{ role: "user", content: line.prompt! }];
}

/** The text a record keeps as its prompt: the line's prompt, or its conversation's last user message. */
export function promptTextOf(line: PromptLine): string {
  if (line.prompt !== undefined) return line.prompt;
  const users = line.messages!.filter((m) => m.role === "user");
  return users.length > 0 ? messageText(users[users.length - 1]) : messageText(line.messages![line.messages!.length - 1]);
}

/** K scored samples of a prompt at one thinking budget, with the tokens each generated. */
export const ThinkingLevelSchema = z.object({
  /** The thinking budget the samples were drawn at (thinking_token_budget). */
  budget: z.int().nonnegative(),
  samples: z.array(z.string()),
  rewards: z.array(z.number()),
  /** Tokens each sample generated (thinking, markers, answer and end-of-sequence): what it cost. */
  tokens: z.array(z.int().nonnegative()),
  /** Of all of them, the thinking tokens (the server's usage.completion_tokens_details.reasoning_tokens). */
  reasoning_tokens: z.int().nonnegative(),
});
export type ThinkingLevel = z.infer<typeof ThinkingLevelSchema>;

/**
 * One collected prompt: its hidden state and K scored samples. Collected at thinking
 * budgets (`allot collect --thinking-budgets`), `thinking` holds K samples at each budget,
 * in increasing order, and samples/rewards/tokens are the largest budget's.
 */
export const RecordSchema = z.object({
  id: z.string(),
  prompt: z.string(),
  /** Under --chat: the conversation whose state `hidden` is (prompt is then its last user message). */
  messages: MessagesSchema.optional(),
  hidden: z.array(z.number()),
  samples: z.array(z.string()),
  rewards: z.array(z.number()),
  /** Completion tokens the K samples cost. */
  tokens: z.int(),
  thinking: z.array(ThinkingLevelSchema).min(1).optional(),
  meta: z.record(z.string(), z.unknown()),
});
export type DataRecord = z.infer<typeof RecordSchema>;

/** The settings a dataset was collected with (`<out>.meta.json`); a resume must match them. */
export const CollectSettingsSchema = z.object({
  lm: z.string(),
  model: z.string(),
  reward_url: z.string(),
  reward_model: z.string(),
  samples: z.int().positive(),
  temperature: z.number(),
  max_tokens: z.int().positive(),
  seed: z.int(),
  prompts: z.string(),
  // Added with real deployments; absent in older data means the values below.
  /** Where hidden states came from (a vLLM pooling instance); default: lm. */
  hidden_url: z.string().optional(),
  /** Their protocol (a HIDDEN_STATE_BACKENDS key); default vllm-pooling. */
  hidden_states: z.string().optional(),
  /** The reward protocol (a REWARD_BACKENDS key); default vllm-pooling. */
  rewards: z.string().optional(),
  /** REWARD_LABEL as given (an index or a label name); default: the protocol's (the last label). */
  reward_label: z.string().optional(),
  /**
   * What the hidden states were read from: bare prompts (default), or conversations
   * rendered by the server's chat template with the generation prompt (--chat): a
   * predictor trained on them records it (manifest input_form) and serves that form only.
   */
  form: z.enum(["prompt", "chat"]).optional(),
  /** Thinking budgets each prompt was sampled at (K samples each), increasing; absent: the model's own thinking. */
  thinking_budgets: z.array(z.int().nonnegative()).min(1).optional(),
});
export type CollectSettings = z.infer<typeof CollectSettingsSchema>;

/**
 * What training reads of a dataset's settings (`<out>.meta.json`): the LM whose hidden
 * states they are, the reward model, and the form. Any dataset has them: collected (allot
 * collect) or exported from a gateway's audited prompts (allot audits export), whose
 * samples were drawn at each client's own temperature and max_tokens.
 */
export const TrainingSettingsSchema = CollectSettingsSchema.pick({ model: true, reward_model: true, form: true });

/** The settings `allot audits export` writes beside its dataset. */
export const ExportSettingsSchema = TrainingSettingsSchema.extend({
  source: z.literal("audits"),
  gateway: z.string(),
  tenant: z.string(),
  /** The audit size: every record has at least this many rewards. */
  samples: z.int().positive(),
  exported_at: z.string(),
});
export type ExportSettings = z.infer<typeof ExportSettingsSchema>;

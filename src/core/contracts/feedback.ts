import { z } from "@hono/zod-openapi";

/** The longest comment, in UTF-8 bytes: a note, not a document. */
export const COMMENT_MAX_BYTES = 1024;

const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;

export const FeedbackRequestSchema = z
  .strictObject({
    response_id: z
      .string()
      .min(1)
      .max(200)
      .describe("The id of a response allot gave this tenant (chatcmpl-…, cmpl-…, resp_…); any other id is a 404."),
    reward: z.number().min(0).max(1).describe("The client's reward for the answer it got, from 0 (bad) to 1 (good)."),
    comment: z
      .string()
      .refine((s) => utf8Bytes(s) <= COMMENT_MAX_BYTES, { message: `comment must be at most ${COMMENT_MAX_BYTES} bytes (UTF-8)` })
      .optional()
      .describe(`Free text, at most ${COMMENT_MAX_BYTES} bytes.`),
  })
  .openapi("FeedbackRequest", { example: { response_id: "chatcmpl-0f8e…", reward: 1, comment: "right answer" } });
export type FeedbackRequest = z.infer<typeof FeedbackRequestSchema>;

export const FeedbackSchema = z
  .object({
    object: z.literal("feedback"),
    response_id: z.string(),
    reward: z.number(),
    comment: z.string().nullable(),
    recorded_at: z.string().describe("when this feedback was recorded (ISO 8601)"),
    replaced: z.boolean().describe("whether it replaced earlier feedback on the same response (counted once)"),
  })
  .openapi("Feedback");
export type Feedback = z.infer<typeof FeedbackSchema>;

export const FeedbackAgreementSchema = z
  .object({
    count: z.int().describe("audited prompts whose answer a client rated (a completions request of several prompts counts each)"),
    mean_feedback: z.number().nullable().describe("the clients' mean reward of those answers"),
    mean_reward: z.number().nullable().describe("the verifier's (reward model's) mean reward of the same answers"),
    mean_pass_rate: z.number().nullable().describe("the prompts' mean pass rate over every sample their audits drew: what a random sample scores, below the selected answers'"),
    agreement: z.number().nullable().describe("share of them on which the client and the verifier fall on the same side of 0.5"),
  })
  .describe("feedback on audited prompts, against the verifier's labels of the same answers (docs/audits.md#feedback); null figures without any")
  .openapi("FeedbackAgreement");

export const FeedbackSummarySchema = z
  .object({
    count: z.int().describe("responses with feedback (kept: the last 50,000), each counted once"),
    mean_reward: z.number().nullable().describe("their mean reward; null without feedback"),
    audited: FeedbackAgreementSchema,
  })
  .describe(
    "the clients' rewards of the answers they got: a signal for drift and, with care, for retraining; not an unbiased label of the prompts' pass rates (each answer is the one allot selected from its samples: docs/audits.md#feedback)",
  )
  .openapi("FeedbackSummary");
export type FeedbackSummary = z.infer<typeof FeedbackSummarySchema>;

/**
 * The OpenAI request and response fields allot's online routes share. `n` is allot's to
 * choose (it returns the best of the samples it draws), so a client may only send 1.
 */
import { z } from "@hono/zod-openapi";

export const samplingFields = {
  model: z.string().min(1),
  temperature: z.number().min(0).max(2).default(1),
  top_p: z.number().gt(0).max(1).default(1),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).optional(),
  n: z.literal(1, { error: "allot returns the best of the samples it decides to draw: n must be 1" }).optional(),
  stream: z.boolean().default(false),
  stream_options: z.strictObject({ include_usage: z.boolean().default(false) }).optional(),
  seed: z.int().optional(),
  user: z.string().optional(),
  allot: z
    .strictObject({ units: z.int().min(1).max(1_000).optional() })
    .optional()
    .describe("allot's extension: pin the number of samples (the x-allot-units header does the same)."),
};

/** Token usage, the same shape the LM servers report. */
export { UsageSchema, stopList } from "./lm-protocol.js";

export const AllotInfoSchema = z
  .object({
    model: z.string().describe("the model that answered (the router's choice when the request's model is a router)"),
    samples: z.int().describe("samples drawn"),
    units: z.int().describe("units charged: samples × the model's cost per sample (1 without routing)"),
    predicted_success: z.number().nullable().describe("the predictor's single-sample success; null when units were pinned"),
    price: z.number().describe("the tenant's price of one unit when the request was planned"),
    reward: z.number().nullable().describe("the kept sample's reward"),
  })
  .openapi("AllotInfo");

/**
 * What the OpenAI-compatible routes read of a validated body (the table in
 * contracts/openai.ts validated it), and the sampling it asks for.
 */
import type { SamplingParams } from "../../core/backends/completions.js";

/** Fields every endpoint has, as the handlers read them. */
export interface CommonBody {
  model: string;
  temperature?: number;
  top_p?: number;
  n?: number;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  stop?: string | string[];
  seed?: number;
  allot?: { units?: number; rounds?: number };
}

/** What the LM is sent for every sample: only what the client gave (the server's defaults apply to the rest). */
export function samplingOf(body: CommonBody, maxTokens: number | undefined, extra: Record<string, unknown>): SamplingParams {
  return {
    ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
    ...(body.top_p !== undefined ? { topP: body.top_p } : {}),
    ...(maxTokens !== undefined ? { maxTokens } : {}),
    extra,
  };
}

/** Whether the request offers the LM tools to call: some tools, and a tool_choice that is not "none". */
export const offersTools = (tools: readonly unknown[] | undefined, choice: unknown): boolean => (tools?.length ?? 0) > 0 && choice !== "none";

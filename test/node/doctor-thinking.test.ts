// How the doctor reads a probe's thinking (src/core/doctor-thinking.ts measureThinking):
// the server's reasoning_tokens first, else the reasoning field, else the markers.
import { describe, expect, it } from "vitest";
import type { Sampled } from "../../src/core/backends/completions.js";
import { measureThinking } from "../../src/core/doctor-thinking.js";

const markers = { start: "<think>", end: "</think>" };
const one = (text: string, completionTokens: number, o: { reasoningTokens?: number | null; reasoning?: string } = {}): Sampled => ({
  texts: [text],
  finishReasons: ["stop"],
  logprobs: [null],
  samples: [{ text, toolCalls: null, reasoning: o.reasoning === undefined ? null : { field: "reasoning", text: o.reasoning }, finishReason: "stop", logprobs: null }],
  promptTokens: 5,
  completionTokens,
  sampleTokens: [null],
  reasoningTokens: o.reasoningTokens ?? null,
});

describe("measureThinking", () => {
  it("takes usage.completion_tokens_details.reasoning_tokens when the server reports it, even 0", () => {
    expect(measureThinking(one("<think>1+2=3</think>3", 9, { reasoningTokens: 5 }), markers)).toEqual({ tokens: 5, how: "usage" });
    expect(measureThinking(one("<think>1+2=3</think>3", 9, { reasoningTokens: 0 }), markers)).toEqual({ tokens: 0, how: "usage" });
  });

  it("else the reasoning field's share of the completion tokens (0 when it is empty)", () => {
    expect(measureThinking(one("46", 12, { reasoning: "12+34=46+0" }), markers)).toEqual({ tokens: 10, how: "reasoning text" });
    expect(measureThinking(one("46", 3, { reasoning: "" }), markers)).toEqual({ tokens: 0, how: "reasoning text" });
  });

  it("else the text between the markers (to the end when the thinking never closed)", () => {
    // The reference LM's tokens: one per character, a marker one each (11 = 2 markers + 9).
    expect(measureThinking(one("<think>12345678</think>9", 11), markers)).toEqual({ tokens: 8, how: "markers" });
    expect(measureThinking(one("<think></think>46", 4), markers)).toEqual({ tokens: 0, how: "markers" });
    expect(measureThinking(one("<think>1234", 5), markers)).toEqual({ tokens: 4, how: "markers" });
    // Tokens of several characters: the thought's share of the tokens that are not markers.
    expect(measureThinking(one("<think>abcdefgh</think>ijkl", 8), markers)).toEqual({ tokens: 4, how: "markers" });
  });

  it("nothing to read: no markers, or a server that counts no completion tokens", () => {
    expect(measureThinking(one("46", 2), markers)).toEqual({ tokens: null, how: "none" });
    expect(measureThinking(one("<think>1234</think>4", 0), markers)).toEqual({ tokens: null, how: "none" });
  });
});

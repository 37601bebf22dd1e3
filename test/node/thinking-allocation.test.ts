// Thinking levels as options (src/core/allocation/thinking.ts): what a sample at each level is
// expected to cost and may cost at most, the core's arms and the menu solver's options.
import { describe, expect, it } from "vitest";
import { answerAllowance, levelsOf, thinkingArms, thinkingMenu } from "../../src/core/allocation/thinking.js";
import { capAtPrice, drawAtPrice, startState } from "../../src/core/sequential/index.js";
import { contextRoom } from "../../src/core/backends/best-of-k.js";
import manifest from "../../models/predictors/thinking.manifest.json";

const m = manifest.thinking;

describe("thinking levels in units", () => {
  it("allow an answer half as long again as the longest mean answer the manifest measured", () => {
    const longest = Math.max(...m.expected_tokens.map((t, l) => t - m.expected_reasoning_tokens[l]));
    expect(answerAllowance(m)).toBe(Math.ceil(1.5 * longest));
    expect(answerAllowance({ levels: [0], expected_tokens: [1], expected_reasoning_tokens: [0] })).toBe(4);
  });

  it("cost a prompt's predicted tokens and reserve the budget plus the allowance, both within the client's max_tokens", () => {
    const pred = { p: [0.1, 0.2, 0.4, 0.6, 0.8, 0.9], tokens: [6, 9, 12, 16, 21, 24] };
    const l = levelsOf(m, pred, 16);
    expect(l.cost).toEqual(pred.tokens.map((t) => t / 16));
    expect(l.ceiling).toEqual(m.levels.map((b) => (b + answerAllowance(m)) / 16));
    const capped = levelsOf(m, pred, 16, 20);
    expect(capped.ceiling.every((c) => c <= 20 / 16)).toBe(true);
    expect(capped.cost[5]).toBe(20 / 16);
  });

  it("give the menu solver every (level, k) within max units, valued best-of-k at the level's p", () => {
    const l = levelsOf(m, { p: [0.1, 0.2, 0.4, 0.6, 0.8, 0.9], tokens: [6, 9, 12, 16, 21, 24] }, 16);
    const menu = thinkingMenu(l, 3, { minK: 2 });
    expect(menu.length).toBeGreaterThan(0);
    for (const o of menu) {
      expect(o.k).toBeGreaterThanOrEqual(2);
      expect(o.cost).toBeCloseTo(o.k * l.cost[o.option], 12);
      expect(o.cost).toBeLessThanOrEqual(3 + 1e-12);
      expect(o.value).toBeCloseTo(1 - Math.pow(1 - l.p[o.option], o.k), 12);
    }
  });

  it("as the core's arms: a prompt sure at budget 0 draws there; one that needs thinking draws a longer think", () => {
    const arms = (p: number[]) => thinkingArms(levelsOf(m, { p, tokens: [6, 9, 12, 16, 21, 24] }, 16), 2.2, 8);
    const query = (p: number[]) => ({ arms: arms(p), state: startState(6), min: 6 / 16, max: 8 });
    const easy = drawAtPrice(query([0.99, 0.99, 0.99, 0.99, 0.99, 0.99]), 0.05);
    expect(easy?.arm).toBe(0);
    const hard = drawAtPrice(query([0.01, 0.02, 0.05, 0.2, 0.7, 0.9]), 0.05);
    expect(hard!.arm).toBeGreaterThanOrEqual(4);
    // At a high enough price nothing beyond what is owed is worth drawing.
    expect(capAtPrice(query([0.01, 0.02, 0.05, 0.2, 0.7, 0.9]), 1e6)).toBeLessThanOrEqual(24 / 16 + 1e-9);
  });
});

describe("contextRoom: the completion tokens a context-length refusal says are left", () => {
  it.each([
    // The reference LM, after vLLM's older wording.
    ["this model's maximum context length is 96 tokens; you requested 97 (24 in the prompt, 73 in the completion)", 72],
    // vLLM (serving_engine._validate_input, older releases).
    ["This model's maximum context length is 4096 tokens. However, you requested 4200 tokens (1000 in the messages, 3200 in the completion). Please reduce the length of the messages or completion.", 3096],
    // vLLM (newer releases).
    ["'max_tokens' or 'max_completion_tokens' is too large: 4000. This model's maximum context length is 4096 tokens and your request has 200 input tokens (4000 > 4096 - 200).", 3896],
    ["This model's maximum context length is 16384 tokens. However, you requested 8192 output tokens and your prompt contains at least 8193 input tokens, for a total of at least 16385 tokens.", 8191],
  ])("%s → %d", (message, room) => expect(contextRoom(message)).toBe(room));

  it("is null for anything else, or when no room is left", () => {
    expect(contextRoom("some other 400")).toBeNull();
    expect(contextRoom("This model's maximum context length is 96 tokens.")).toBeNull();
    expect(contextRoom("maximum context length is 96 tokens; you requested 120 (96 in the prompt, 24 in the completion)")).toBeNull();
  });
});

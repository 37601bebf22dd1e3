import { env as workerEnv } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { lmConfig } from "../../src/worker/backends/config.js";
import { mapBounded, sampleAndRerank } from "../../src/core/backends/best-of-k.js";
import type { Env } from "../../src/worker/env.js";
import { httpError } from "../../src/worker/http/errors.js";
import { Misconfigured, Unavailable } from "../../src/core/errors.js";
import { hiddenStates } from "../../src/worker/predictor/predict.js";

const env = workerEnv as unknown as Env;
const params = { temperature: 0.8, topP: 1, maxTokens: 12 };

describe("sampleAndRerank against the reference LM and its verifier (real HTTP)", () => {
  it("draws the allocated samples, scores them, and keeps the best", async () => {
    const cfg = lmConfig(env);
    const [easy, hard, none] = await sampleAndRerank(
      cfg,
      [
        { input: { prompt: "12+34=" }, units: 4, seed: 1 },
        { input: { prompt: "345+678=" }, units: 16, seed: 2 },
        { input: { prompt: "1+1=" }, units: 0 },
      ],
      params,
    );
    expect(easy.samples).toHaveLength(4);
    expect(hard.samples).toHaveLength(16);
    for (const r of [easy, hard]) {
      expect(r.rewards.every((x) => x === 0 || x === 1)).toBe(true);
      expect(r.reward).toBe(Math.max(...r.rewards));
      expect(r.samples).toContain(r.best);
      expect(r.completionTokens).toBeGreaterThanOrEqual(r.samples.length); // each sample ends with at least its EOS token
    }
    if (easy.reward === 1) expect(easy.best).toBe("46");
    if (hard.reward === 1) expect(hard.best).toBe("1023");
    expect(none).toMatchObject({ best: null, reward: null, samples: [], completionTokens: 0 });
  });

  it("is reproducible with a seed", async () => {
    const cfg = lmConfig(env);
    const a = await sampleAndRerank(cfg, [{ input: { prompt: "4821+7733=" }, units: 8, seed: 5 }], params);
    const b = await sampleAndRerank(cfg, [{ input: { prompt: "4821+7733=" }, units: 8, seed: 5 }], params);
    expect(a[0].samples).toEqual(b[0].samples);
  });

  it("keeps at most the given number of requests in flight", async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapBounded([...Array(20).keys()], 3, async (i) => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      return i * 2;
    });
    expect(peak).toBe(3);
    expect(out).toEqual([...Array(20).keys()].map((i) => i * 2));
  });
});

describe("gateway configuration", () => {
  it.each([
    [{ LM_URL: undefined }, "set LM_URL"],
    [{ LM_URL: "not a url" }, "LM_URL must be an http(s) URL"],
    [{ HIDDEN_STATES: "sglang-nope" }, 'HIDDEN_STATES must be one of vllm-pooling, sglang-generate, sglang-generate-last, got "sglang-nope"'],
    [{ REWARD_LABEL: "not a label!" }, "REWARD_LABEL must be a label index"],
    [{ REWARDS: "x" }, 'REWARDS must be one of vllm-pooling'],
    [{ REWARD_URL: "::" }, "REWARD_URL must be an http(s) URL"],
    [{ LM_TIMEOUT_MS: "soon" }, 'LM_TIMEOUT_MS must be an integer ≥ 1 (ms), got "soon"'],
    [{ LM_URLS: "weak" }, "LM_URLS must be model=url pairs"],
    [{ LM_URLS: "weak=nowhere" }, "LM_URLS must be model=url pairs"],
  ])("reports %j as a 503 that says what to set", (patch, message) => {
    let err: unknown;
    try {
      lmConfig({ ...env, ...patch } as Env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Misconfigured);
    const out = httpError(err);
    expect(out.status).toBe(503);
    expect(out.headers["x-should-retry"]).toBe("false");
    expect(out.body.error.message).toContain(message);
  });
});

describe("models on their own servers (LM_URLS)", () => {
  // LM_URL points nowhere: only what LM_URLS names (and the reward model) can answer.
  const split = (urls: string) => ({ ...env, LM_URL: "http://127.0.0.1:9", LM_URLS: urls, REWARD_URL: env.LM_URL, LM_ATTEMPTS: "1" }) as Env;

  it("samples each model from its own server", async () => {
    const e = split(`weak=${env.LM_URL},strong=${env.LM_URL}/`);
    for (const model of ["weak", "strong"]) {
      const [r] = await sampleAndRerank({ ...lmConfig(e), model }, [{ input: { prompt: "12+34=" }, units: 2, seed: 1 }], params);
      expect(r.samples).toHaveLength(2);
    }
  });

  it("sends a model LM_URLS does not name to LM_URL, and never tells the caller where that is", async () => {
    const e = split(`weak=${env.LM_URL}`);
    const err = await sampleAndRerank({ ...lmConfig(e), model: "strong" }, [{ input: { prompt: "12+34=" }, units: 1 }], params).catch((x) => x);
    expect(err).toBeInstanceOf(Unavailable);
    const out = httpError(err);
    expect(out.status).toBe(502);
    expect(out.body.error.message).toContain("could not be reached");
    expect(out.body.error.message).not.toContain("127.0.0.1");
  });
});

describe("hidden states from their own server (HIDDEN_STATES_URL, HIDDEN_STATES_URLS)", () => {
  // Completions' server points nowhere; hidden states come from the pooling server only.
  const dead = "http://127.0.0.1:9";

  it("reads hidden states from HIDDEN_STATES_URL, not from where completions are served", async () => {
    const e = { ...env, LM_URL: dead, HIDDEN_STATES_URL: env.LM_URL, LM_ATTEMPTS: "1" } as Env;
    const [h] = await hiddenStates(e, "strong", ["12+34="]);
    expect(h).toHaveLength(128);
    const sampling = await sampleAndRerank({ ...lmConfig(e), model: "strong" }, [{ input: { prompt: "12+34=" }, units: 1 }], params).catch((x) => x);
    expect(sampling).toBeInstanceOf(Unavailable);
  });

  it("never from where completions are served: a hidden-state server is named, or it is a 503 naming HIDDEN_STATES_URL", async () => {
    const e = { ...env, LM_URLS: `strong=${env.LM_URL}`, HIDDEN_STATES_URL: undefined, LM_ATTEMPTS: "1" } as Env;
    const err = await hiddenStates(e, "strong", ["1+1="]).catch((x) => x);
    expect(err).toBeInstanceOf(Misconfigured);
    expect(httpError(err).status).toBe(503);
  });

  it("HIDDEN_STATES_URLS names a pooling server per model, before HIDDEN_STATES_URL", async () => {
    const e = { ...env, LM_URL: dead, LM_URLS: `strong=${dead}`, HIDDEN_STATES_URL: dead, HIDDEN_STATES_URLS: `strong=${env.LM_URL}`, LM_ATTEMPTS: "1" } as Env;
    expect(await hiddenStates(e, "strong", ["1+1="])).toHaveLength(1);
    const weak = await hiddenStates(e, "weak", ["1+1="]).catch((x) => x);
    expect(weak).toBeInstanceOf(Unavailable);
  });

  it("refuses a HIDDEN_STATES_URL that is not a URL with a 503 that says so", () => {
    expect(() => lmConfig({ ...env, HIDDEN_STATES_URL: "pooler:8000" } as Env)).toThrow(/HIDDEN_STATES_URL/);
    expect(() => lmConfig({ ...env, HIDDEN_STATES_URLS: "strong" } as Env)).toThrow(/HIDDEN_STATES_URLS/);
  });
});

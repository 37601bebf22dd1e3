// First contact with real model servers (issue #23): the gateway pointed at stand-ins for
// vLLM and SGLang of each version (test/doubles/, written from their source, started by
// global-setup.ts), and what it must do with each: never blame a client for the
// deployment, read rewards from the right label, ask each vLLM for the task it serves,
// read chat hidden states as predictors were trained on them, survive SGLang's
// scheduler, and say all of it in `allot doctor`. (Imports the ORT wasm through predict.)
import { env as workerEnv, exports } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { runCall } from "../../src/core/backends/call.js";
import { sampleAndRerank } from "../../src/core/backends/best-of-k.js";
import { Misconfigured, UpstreamRefused } from "../../src/core/errors.js";
import type { Finding } from "../../src/core/doctor.js";
import { createApp } from "../../src/worker/app.js";
import { lmConfig } from "../../src/worker/backends/config.js";
import { forgetFaults } from "../../src/worker/backends/seen.js";
import type { Env } from "../../src/worker/env.js";
import { httpError } from "../../src/worker/http/errors.js";
import { defaultUnits, forForm, hiddenStates, predict, predictOrDefault } from "../../src/worker/predictor/predict.js";
import { findPredictor } from "../../src/worker/predictor/registry.js";
import { ADMIN, call, newTenant } from "./support.js";
import strongBinaryModel from "../../models/predictors/strong-binary.onnx";
import strongBinaryManifest from "../../models/predictors/strong-binary.manifest.json";
import strongBinaryParity from "../../models/predictors/strong-binary.parity.json";

const env = workerEnv as unknown as Env;
const d = inject("doubles");
const lm = inject("lmUrl");
const at = (patch: Record<string, string | undefined>) => ({ ...env, LM_ATTEMPTS: "1", ...patch }) as Env;
const params = { temperature: 0.8, topP: 1, maxTokens: 12 };
const caught = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e);

/** A 503 that says which setting to change, never retried and never naming a server's address. */
function expectMisconfigured(err: unknown, setting: string | null, says?: RegExp) {
  expect(err).toBeInstanceOf(Misconfigured);
  expect((err as Misconfigured).setting).toBe(setting);
  const out = httpError(err);
  expect(out.status).toBe(503);
  expect(out.headers["x-should-retry"]).toBe("false");
  expect(out.body.error.param).toBeNull();
  expect(out.body.error.message).not.toMatch(/127\.0\.0\.1|http:/);
  if (says) expect(out.body.error.message).toMatch(says);
}

/** Scores of the reward deployment in `e` for a right and a wrong answer to 12+34=. */
async function rightAndWrong(e: Env): Promise<[number, number]> {
  const cfg = lmConfig(e);
  const calls = cfg.reward.backend.score(cfg.reward.model, [{ input: { prompt: "12+34=" }, completion: "46" }, { input: { prompt: "12+34=" }, completion: "47" }], cfg.reward.label);
  const scores = (await Promise.all(calls.map((c) => runCall({ url: cfg.reward.url, role: "rewards" }, c, cfg.policy)))).flat();
  return [scores[0], scores[1]];
}

describe("no default points at the wrong server, and no misconfiguration is the client's fault", () => {
  it("hidden states with no HIDDEN_STATES_URL: a 503 naming it (it no longer defaults to the LM, a generate instance)", async () => {
    const err = await caught(hiddenStates(at({ LM_URL: d.vllmGenerate, HIDDEN_STATES_URL: undefined }), "strong", ["12+34="]));
    expectMisconfigured(err, "HIDDEN_STATES_URL", /--runner pooling/);
  });

  it.each([
    ["vLLM ≥ 0.16 (404, the route is not registered)", "vllmGenerate"],
    ["vLLM 0.15 (400 \"The model does not support Pooling API\")", "vllmGenerate015"],
  ] as const)("a generate instance as HIDDEN_STATES_URL, %s: a 503 naming HIDDEN_STATES_URL, not a 400 on the prompt", async (_, which) => {
    const err = await caught(hiddenStates(at({ HIDDEN_STATES_URL: d[which] }), "strong", ["12+34="]));
    expectMisconfigured(err, "HIDDEN_STATES_URL", /pooling instance/);
  });

  it("a pooling server that serves the LM under another name: a 503 saying --served-model-name", async () => {
    const err = await caught(hiddenStates(at({ HIDDEN_STATES_URL: d.vllmPool }), "weak", ["12+34="]));
    expectMisconfigured(err, "HIDDEN_STATES_URL", /--served-model-name weak/);
  });

  it("sampling with no REWARD_URL or REWARD_MODEL: a 503 before a sample is paid for", async () => {
    for (const [unset, setting] of [[{ REWARD_URL: undefined }, "REWARD_URL"], [{ REWARD_MODEL: undefined }, "REWARD_MODEL"]] as const) {
      const err = await caught(sampleAndRerank({ ...lmConfig(at({ LM_URL: "http://127.0.0.1:9", ...unset })), model: "strong" }, [{ input: { prompt: "12+34=" }, units: 2 }], params));
      expectMisconfigured(err, setting);
    }
  });

  it("a reward server that does not serve REWARD_MODEL, or has no /classify: a 503 naming the setting", async () => {
    expectMisconfigured(await caught(rightAndWrong(at({ REWARD_URL: d.vllmVerifier, REWARD_MODEL: "verifier-binary" }))), "REWARD_MODEL", /GET \/v1\/models/);
    expectMisconfigured(await caught(rightAndWrong(at({ REWARD_URL: d.vllmPool, REWARD_MODEL: "strong", REWARDS: "vllm-classify" }))), "REWARDS");
  });

  it("a prediction asked for meets it as a 503 x-should-retry: false, and /healthz and /readyz then say the gateway is degraded", async () => {
    forgetFaults();
    const app = createApp();
    const t = await newTenant();
    const bad = at({ HIDDEN_STATES_URL: d.vllmGenerate });
    const ctx = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;
    // (An online completion is served the tenant's target instead: "a deployment that cannot predict" below.)
    const res = await app.request("/v1/allocate", { method: "POST", headers: t.headers, body: JSON.stringify({ model: "strong", budget: 4, queries: [{ id: "a", prompt: "345+678=" }] }) }, bad, ctx);
    expect(res.status).toBe(503);
    expect(res.headers.get("x-should-retry")).toBe("false");
    const body = (await res.json()) as { error: { type: string; param: string | null; message: string } };
    expect(body.error).toMatchObject({ type: "api_error", param: null });
    expect(body.error.message).toContain("HIDDEN_STATES_URL");
    const health = (await (await app.request("/healthz", {}, bad, ctx)).json()) as { status: string; problems: { setting: string }[] };
    expect(health.status).toBe("degraded");
    expect(health.problems[0].setting).toBe("HIDDEN_STATES_URL");
    expect((await app.request("/readyz", {}, bad, ctx)).status).toBe(503);
    forgetFaults();
    // Unset, the settings alone say so.
    const unset = await app.request("/readyz", {}, at({ REWARD_MODEL: undefined }), ctx);
    expect(unset.status).toBe(503);
    expect(((await unset.json()) as { problems: { setting: string }[] }).problems.map((p) => p.setting)).toContain("REWARD_MODEL");
    expect((await call("/readyz")).status).toBe(200);
  });
});

describe("rewards read from the label that means good (REWARD_LABEL)", () => {
  it("a two-label [bad, good] classifier through /pooling scores the right answer higher (it used to read the first value: P(bad))", async () => {
    const [right, wrong] = await rightAndWrong(at({ REWARD_URL: d.vllmTwoLabel, REWARD_MODEL: "rm-2", REWARDS: "vllm-pooling" }));
    expect(right).toBeGreaterThan(0.9);
    expect(wrong).toBeLessThan(0.1);
  });

  it("so best-of-k keeps a right sample, not the worst one", async () => {
    const cfg = { ...lmConfig(at({ REWARD_URL: d.vllmTwoLabel, REWARD_MODEL: "rm-2", REWARDS: "vllm-pooling" })), model: "strong" };
    const [r] = await sampleAndRerank(cfg, [{ input: { prompt: "345+678=" }, units: 16, seed: 3 }], params);
    expect(r.samples).toContain("1023");
    expect(r.best).toBe("1023");
  });

  it("takes a label by index or by name; what the answer cannot resolve is a 503 naming REWARD_LABEL", async () => {
    const two = { REWARD_URL: d.vllmTwoLabel, REWARD_MODEL: "rm-2" };
    const [r1, w1] = await rightAndWrong(at({ ...two, REWARDS: "vllm-classify", REWARD_LABEL: "LABEL_1" }));
    expect(r1).toBeGreaterThan(w1);
    const [r0, w0] = await rightAndWrong(at({ ...two, REWARDS: "vllm-classify", REWARD_LABEL: "0" }));
    expect(r0).toBeLessThan(w0);
    expectMisconfigured(await caught(rightAndWrong(at({ ...two, REWARDS: "vllm-pooling", REWARD_LABEL: "LABEL_1" }))), "REWARD_LABEL", /carry no names/);
    expectMisconfigured(await caught(rightAndWrong(at({ ...two, REWARDS: "vllm-pooling", REWARD_LABEL: "2" }))), "REWARD_LABEL", /2 label/);
  });

  it("vLLM 0.11.1–0.20 answers /pooling without a task per token (token_classify): the last row's label is read; with task classify, the sequence's", async () => {
    for (const REWARDS of ["vllm-pooling", "vllm-pooling-classify", "vllm-classify"]) {
      const [right, wrong] = await rightAndWrong(at({ REWARD_URL: d.vllmTwoLabel018, REWARD_MODEL: "rm-2", REWARDS }));
      expect(right).toBeGreaterThan(wrong);
    }
  });

  it("vLLM ≥ 0.21 serves one task: asked for another, a 503 naming REWARDS that quotes --pooler-config.task", async () => {
    const err = await caught(rightAndWrong(at({ REWARD_URL: d.vllmTwoLabel, REWARD_MODEL: "rm-2", REWARDS: "vllm-pooling-token-classify" })));
    expectMisconfigured(err, "REWARDS", /--pooler-config\.task token_classify/);
  });

  it("SGLang's native /classify is a reward backend (sglang-classify); conversations it cannot score are a 503", async () => {
    const [right, wrong] = await rightAndWrong(at({ REWARD_URL: d.sglangReward, REWARD_MODEL: "verifier", REWARDS: "sglang-classify" }));
    expect([right, wrong]).toEqual([1, 0]);
    // Its /v1/classify softmaxes a one-label output: every answer 1.0, which is why allot does not use it.
    const v1 = (await (await fetch(`${d.sglangReward}/v1/classify`, { method: "POST", body: JSON.stringify({ input: ["12+34=46", "12+34=47"] }) })).json()) as { data: { probs: number[] }[] };
    expect(v1.data.map((x) => x.probs)).toEqual([[1], [1]]);
    const cfg = lmConfig(at({ REWARD_URL: d.sglangReward, REWARD_MODEL: "verifier", REWARDS: "sglang-classify" }));
    expectMisconfigured(await caught(Promise.resolve().then(() => cfg.reward.backend.score("verifier", [{ input: { messages: [{ role: "user", content: "1+1=" }] }, completion: "2" }]))), "REWARDS");
  });
});

describe("vLLM's pooling task, version by version", () => {
  it("vLLM 0.10.0 ignores the task and pools every token (raw rows): the last row is the prompt's state", async () => {
    const [mine] = await hiddenStates(env, "strong", ["345+678="]);
    const [old] = await hiddenStates(at({ HIDDEN_STATES_URL: d.vllmPool010 }), "strong", ["345+678="]);
    old.forEach((x, j) => expect(Math.abs(x - mine[j])).toBeLessThan(1e-4));
  });

  it("vLLM 0.11.0's rows are softmaxed over the hidden dimension: a predictor trained on raw states refuses them with a 503", async () => {
    const p = (await findPredictor(env, { lmModel: "strong" }))!;
    const err = await caught(predict(at({ HIDDEN_STATES_URL: d.vllmPool011 }), p, [{ prompt: "345+678=" }], () => "prompt"));
    expectMisconfigured(err, "HIDDEN_STATES_URL", /norm/);
  });

  it("vLLM ≥ 0.21 with embed as its one task answers task embed; started with another task, a 503 naming HIDDEN_STATES", async () => {
    const [h] = await hiddenStates(at({ HIDDEN_STATES_URL: d.vllmPool }), "strong", ["345+678="]);
    expect(h).toHaveLength(128);
    const err = await caught(hiddenStates(at({ HIDDEN_STATES_URL: d.vllmPoolTokenEmbed }), "strong", ["345+678="]));
    expectMisconfigured(err, "HIDDEN_STATES", /--pooler-config\.task embed/);
  });
});

describe("chat hidden states are read as the predictors were trained", () => {
  const ask = [{ role: "system" as const, content: "You add." }, { role: "user" as const, content: "345+678=" }];

  it("a conversation is read with the generation prompt (what the chat completion continues); /pooling's default, without it, is another vector", async () => {
    const [chat] = await hiddenStates(env, "strong", [{ messages: ask }]);
    const [bare] = await hiddenStates(env, "strong", ["345+678="]);
    chat.forEach((x, j) => expect(Math.abs(x - bare[j])).toBeLessThan(1e-5));
    const res = (await (await fetch(`${lm}/pooling`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "strong", messages: ask, task: "embed" }) })).json()) as { data: { data: number[] }[] };
    const closed = res.data[0].data;
    expect(Math.max(...closed.map((x, j) => Math.abs(x - bare[j])))).toBeGreaterThan(0.1);
  });

  it("a prompt-form predictor is not fed conversations: its chat-form twin is, and without one the request is served unpredicted", async () => {
    const binary = (await findPredictor(env, { lmModel: "strong" }))!;
    expect(binary.manifest.input_form ?? "prompt").toBe("prompt");
    expect((await forForm(env, binary, "chat")).manifest).toMatchObject({ name: "strong-binary-chat", input_form: "chat" });
    // A published predictor of another LM, trained on prompts only.
    const b64 = (bytes: ArrayBuffer | Uint8Array) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
    const put = await call("/admin/predictors/acme-prompt", { method: "PUT", headers: ADMIN, body: JSON.stringify({ manifest: { ...strongBinaryManifest, name: "acme-prompt", lm: { ...strongBinaryManifest.lm, model: "acme" } }, onnx: b64(strongBinaryModel), parity: strongBinaryParity }) });
    expect(put.status).toBe(201);
    const acme = (await findPredictor(env, { lmModel: "acme" }))!;
    expectMisconfigured(await caught(forForm(env, acme, "chat")), null, /allot collect --chat/);
    const out = await predictOrDefault(env, acme, [{ messages: ask }], () => "messages");
    expect("unpredicted" in out).toBe(true);
    // What the planning then serves: the tenant's target, within its bounds.
    expect([defaultUnits({ min_units: 1, max_units: 16, target_units: 3.6 }), defaultUnits({ min_units: 5, max_units: 16, target_units: 4 }), defaultUnits({ min_units: 1, max_units: 2, target_units: 4 })]).toEqual([4, 5, 2]);
    expect((await call("/admin/predictors/acme-prompt", { method: "DELETE", headers: ADMIN })).status).toBe(204);
  });
});

describe("SGLang as it is: its scheduler batches concurrent calls", () => {
  const prompts = ["12+3=", "12+34=", "12+345=", "123+45=", "1+1="];
  const truth = () => hiddenStates(env, "strong", prompts);
  const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, j) => Math.abs(x - b[j]) < 1e-4);
  /** One prompt cached first, then the five at once (one call each, as allot sends them). */
  async function concurrently(e: Env): Promise<Float32Array[]> {
    await hiddenStates(e, "strong", ["12+3456="]);
    return hiddenStates(e, "strong", prompts);
  }

  it("before PR #30177, with its radix cache, one prompt per call does not help: prefix-cache hits in a batch give calls each other's rows", async () => {
    const e = at({ HIDDEN_STATES: "sglang-generate", HIDDEN_STATES_URL: d.sglang });
    const got = await caught(concurrently(e));
    const want = await truth();
    // Wrong rows, or an empty slice read as a refusal: never all right.
    if (Array.isArray(got)) expect(got.every((v, i) => same(v, want[i]))).toBe(false);
    else expect(got).toBeInstanceOf(Error);
  });

  it("a hidden-state server started with --disable-radix-cache, or one with PR #30177 asked for \"last\", gives every call its own state", async () => {
    const want = await truth();
    for (const e of [at({ HIDDEN_STATES: "sglang-generate", HIDDEN_STATES_URL: d.sglangNoCache }), at({ HIDDEN_STATES: "sglang-generate-last", HIDDEN_STATES_URL: d.sglangLast })]) {
      const got = await concurrently(e);
      got.forEach((v, i) => expect(same(v, want[i])).toBe(true));
    }
  });

  it("\"last\" to a server before PR #30177, and EAGLE3's 3 × d states, are 503s naming the setting", async () => {
    expectMisconfigured(await caught(hiddenStates(at({ HIDDEN_STATES: "sglang-generate-last", HIDDEN_STATES_URL: d.sglang }), "strong", ["1+1="])), "HIDDEN_STATES", /PR #30177/);
    const p = (await findPredictor(env, { lmModel: "strong" }))!;
    expectMisconfigured(await caught(predict(at({ HIDDEN_STATES: "sglang-generate", HIDDEN_STATES_URL: d.sglangEagle }), p, [{ prompt: "1+1=" }], () => "prompt")), "HIDDEN_STATES_URL", /EAGLE3/);
  });

  it("cannot read a conversation (no chat template in /generate): a 503 naming HIDDEN_STATES", async () => {
    const err = await caught(hiddenStates(at({ HIDDEN_STATES: "sglang-generate", HIDDEN_STATES_URL: d.sglangNoCache }), "strong", [{ messages: [{ role: "user", content: "1+1=" }] }]));
    expectMisconfigured(err, "HIDDEN_STATES", /chat-form predictor/);
  });
});

describe("a deployment that cannot predict", () => {
  it("serves the tenant's target units unpredicted, charges no prefill, and says why; /readyz shows the fault", async () => {
    // The hidden-state server runs the embed task (normalised vectors): Misconfigured, not the client's fault.
    const broken = at({ HIDDEN_STATES_URL: d.vllmPoolTokenEmbed });
    const settled: Promise<unknown>[] = [];
    const ctx = { waitUntil: (p: Promise<unknown>) => settled.push(p), passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;
    const t = await newTenant({ day: 100 });
    expect((await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 3, min_units: 1, max_units: 16 }) })).status).toBe(200);
    const res = await createApp().request("/v1/chat/completions", { method: "POST", headers: t.headers, body: JSON.stringify({ model: "strong", messages: [{ role: "user", content: "345+678=" }], max_tokens: 8 }) }, broken, ctx);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { allot: { units: number; prefill_units: number; warnings?: string[] }; warnings?: string[] };
    expect(body.allot.units).toBe(3);
    expect(body.allot.prefill_units).toBe(0);
    const warnings = body.warnings ?? body.allot.warnings ?? [];
    expect(warnings.join(" ")).toMatch(/without a prediction.*embed/);
    await Promise.all(settled);
    const usage = (await (await call("/v1/usage", { headers: t.headers })).json()) as { windows: { window: string; used: number; reserved: number }[] };
    expect(usage.windows.find((w) => w.window === "day")).toMatchObject({ used: 3, reserved: 0 });
    const ready = await createApp().request("/readyz", {}, broken, ctx);
    expect(ready.status).toBe(503);
    const problems = ((await ready.json()) as { problems: { setting: string | null; message: string }[] }).problems;
    expect(problems.some((p) => p.setting === "HIDDEN_STATES" || /embed/.test(p.message))).toBe(true);
    forgetFaults();
  });
});

describe("fields vLLM refuses are refused first, by name", () => {
  it("suffix (vLLM: \"suffix is not currently supported\", even \"\") and a reasoning_effort outside vLLM's values", async () => {
    // A vLLM deployment: generate, pooling (raw states, as the shipped predictors were trained on) and a reward model.
    const vllm = at({ LM_URL: d.vllmGenerate, HIDDEN_STATES_URL: d.vllmPool, REWARD_URL: d.vllmVerifier, REWARD_MODEL: "verifier", REWARDS: "vllm-classify" });
    const ctx = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;
    const t = await newTenant();
    const post = (path: string, body: object) => createApp().request(path, { method: "POST", headers: t.headers, body: JSON.stringify(body) }, vllm, ctx);
    const ok = await post("/v1/completions", { model: "strong", prompt: "12+34=", max_tokens: 8 });
    expect(ok.status).toBe(200);
    const suffix = await post("/v1/completions", { model: "strong", prompt: "1+1=", suffix: "" });
    expect(suffix.status).toBe(400);
    const s = ((await suffix.json()) as { error: { param: string; message: string } }).error;
    expect(s.param).toBe("suffix");
    expect(s.message).not.toContain("model server refused");
    const effort = await post("/v1/chat/completions", { model: "strong", messages: [{ role: "user", content: "1+1=" }], reasoning_effort: "turbo" });
    expect(effort.status).toBe(400);
    const e = ((await effort.json()) as { error: { param: string; message: string } }).error;
    expect(e.param).toBe("reasoning_effort");
    expect(e.message).not.toContain("model server refused");
    // The double refuses them as vLLM does.
    const direct = (path: string, body: object) => fetch(`${d.vllmGenerate}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect((await direct("/v1/completions", { model: "strong", prompt: "1+1=", suffix: "" })).status).toBe(400);
    expect((await direct("/v1/chat/completions", { model: "strong", messages: [{ role: "user", content: "1+1=" }], reasoning_effort: "turbo" })).status).toBe(400);
  });
});

describe("allot doctor (GET /admin/doctor)", () => {
  const ctx = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;
  async function doctor(e: Env, query = ""): Promise<{ status: string; findings: Finding[] }> {
    const res = await createApp().request(`/admin/doctor${query}`, { headers: ADMIN }, e, ctx);
    expect(res.status).toBe(200);
    return (await res.json()) as { status: string; findings: Finding[] };
  }
  const errors = (r: { findings: Finding[] }) => r.findings.filter((f) => f.level === "error");

  it("finds nothing wrong with the reference LM in every role", async () => {
    const r = await doctor(env);
    expect(errors(r)).toEqual([]);
    expect(r.status).toBe("ok");
    const roles = new Set(r.findings.map((f) => f.role));
    expect([...roles].sort()).toEqual(["generate", "hidden states", "rewards", "thinking"]);
    expect(r.findings.find((f) => f.role === "rewards")!.message).toMatch(/right 1\.000 > wrong 0\.000/);
    // wrangler.toml's THINKING_MODELS: the reference LM keeps thinking_token_budget and reports reasoning_tokens.
    const thinking = r.findings.filter((f) => f.role === "thinking");
    expect(thinking).toEqual([expect.objectContaining({ level: "ok", model: "thinking", setting: null })]);
    expect(thinking[0].message).toMatch(/the budget is kept \(backend vllm\): thinking 0 tokens at a budget of 0 and \d+ at 8, reasoning_tokens as the server reports them/);
  });

  describe("thinking budgets (THINKING_MODELS)", () => {
    const thinkingOnly = (r: { findings: Finding[] }) => r.findings.filter((f) => f.role === "thinking");
    const models = (backend: object, model = "thinking") => JSON.stringify({ [model]: { backend } });

    it("budget forcing and reasoning_effort on the reference LM: kept, in two calls for budget forcing", async () => {
      const forcing = thinkingOnly(await doctor(at({ THINKING_MODELS: models({ kind: "budget-forcing" }) })));
      expect(forcing).toEqual([expect.objectContaining({ level: "ok", model: "thinking" })]);
      expect(forcing[0].message).toMatch(/two \/v1\/completions calls/);
      expect(forcing[0].message).toMatch(/thinking 0 tokens at a budget of 0 and [1-9]\d* at 8/);
      // Markers the model does not have: its server cannot read the raw prompt, and the doctor says to check them.
      const wrong = thinkingOnly(await doctor(at({ THINKING_MODELS: models({ kind: "budget-forcing", start: "<reasoning>", end: "</reasoning>" }) })));
      expect(wrong).toEqual([expect.objectContaining({ level: "error", setting: "THINKING_MODELS" })]);
      expect(wrong[0].message).toMatch(/a request with a thinking budget of 0 \(backend budget-forcing\) failed: .*check the markers \(start, end\) are the model's/);
      const effort = thinkingOnly(await doctor(at({ THINKING_MODELS: models({ kind: "reasoning-effort", levels: { none: 0, low: 8, max: null } }) })));
      expect(effort).toEqual([expect.objectContaining({ level: "ok" })]);
    });

    it("vLLM with --reasoning-parser keeps thinking_token_budget (read from the markers: vLLM reports no reasoning_tokens)", async () => {
      const r = thinkingOnly(await doctor(at({ LM_URLS: `thinking=${d.vllmThinking}`, THINKING_MODELS: models({ kind: "vllm" }) })));
      expect(r).toEqual([expect.objectContaining({ level: "ok", server: d.vllmThinking })]);
      expect(r[0].message).toMatch(/vLLM 0\.22\.0: the budget is kept .* estimated from the markers/);
    });

    it.each([
      ["vLLM 0.22 without --reasoning-parser", "vllmThinkingNoParser", /--reasoning-parser/],
      ["vLLM 0.18 (before thinking_token_budget)", "vllmThinking018", /before 0\.20/],
    ] as const)("%s accepts the budget and ignores it: an error naming THINKING_MODELS and the cause", async (_, which, cause) => {
      const r = thinkingOnly(await doctor(at({ LM_URLS: `thinking=${d[which]}`, THINKING_MODELS: models({ kind: "vllm" }) })));
      expect(r).toEqual([expect.objectContaining({ level: "error", setting: "THINKING_MODELS" })]);
      expect(r[0].message).toMatch(/the budget is not enforced: the probe thought (\d+) tokens at a budget of 0 and \1 tokens at a budget of 8 \(the same at both/);
      expect(r[0].message).toMatch(cause);
    });

    it("SGLang's thinking-budget processor: kept with --enable-custom-logit-processor, refused without, silently dropped by an older release", async () => {
      const sglang = (which: "sglangThinking" | "sglangThinkingNoFlag" | "sglangThinkingDrops") =>
        doctor(at({ LM_URLS: `thinking=${d[which]}`, THINKING_MODELS: models({ kind: "sglang", processor: '{"callable": "8004950000"}' }) })).then(thinkingOnly);
      const kept = await sglang("sglangThinking");
      expect(kept).toEqual([expect.objectContaining({ level: "ok", setting: null })]);
      expect(kept[0].message).toMatch(/SGLang 0\.6\.0: the budget is kept \(backend sglang\): thinking 0 tokens at a budget of 0 and [1-9]\d* at 8, estimated from the markers/);
      const refused = await sglang("sglangThinkingNoFlag");
      expect(refused).toEqual([expect.objectContaining({ level: "error", setting: "THINKING_MODELS" })]);
      expect(refused[0].message).toMatch(/failed: .*start SGLang with --enable-custom-logit-processor/);
      const dropped = await sglang("sglangThinkingDrops");
      expect(dropped).toEqual([expect.objectContaining({ level: "error", setting: "THINKING_MODELS" })]);
      expect(dropped[0].message).toMatch(/the budget is not enforced: .*older SGLang drops a custom logit processor/);
    });

    it("a server that refuses the field (a model that does not think): an error saying what to change", async () => {
      const r = thinkingOnly(await doctor(at({ THINKING_MODELS: models({ kind: "vllm" }, "strong") })));
      expect(r).toEqual([expect.objectContaining({ level: "error", model: "strong", setting: "THINKING_MODELS" })]);
      expect(r[0].message).toMatch(/a request with a thinking budget of 0 \(backend vllm\) failed: .*thinking_token_budget.*--reasoning-parser/);
    });

    it("a server that reports no thinking at all: a warning that the budget cannot be verified", async () => {
      // strong on vLLM ignores reasoning_effort beyond its Literal and thinks nowhere: nothing to measure.
      const r = thinkingOnly(await doctor(at({ LM_URLS: `strong=${d.vllmGenerate}`, THINKING_MODELS: models({ kind: "reasoning-effort", levels: { low: 8, high: 32 } }, "strong") })));
      expect(r).toEqual([expect.objectContaining({ level: "warn", setting: "THINKING_MODELS" })]);
      expect(r[0].message).toMatch(/charged their completion tokens, but whether the budget caps the thinking cannot be verified/);
    });
  });

  it("names the setting for a generate instance as the hidden-state server and an inverted reward label", async () => {
    const r = await doctor(at({ HIDDEN_STATES_URL: d.vllmGenerate, REWARD_URL: d.vllmTwoLabel, REWARD_MODEL: "rm-2", REWARD_LABEL: "0" }));
    expect(r.status).toBe("error");
    const settings = errors(r).map((f) => f.setting);
    expect(settings).toContain("HIDDEN_STATES_URL");
    expect(settings).toContain("REWARD_LABEL");
    expect(errors(r).find((f) => f.setting === "REWARD_LABEL")!.message).toMatch(/two labels/);
  });

  it("refuses a process reward model, says why, and catches SGLang's unsafe set-ups", async () => {
    const prm = await doctor(at({ REWARD_URL: d.vllmPrm, REWARD_MODEL: "prm" }));
    expect(errors(prm).find((f) => f.role === "rewards")!.message).toMatch(/process reward model/);
    const unsafe = await doctor(at({ HIDDEN_STATES: "sglang-generate", HIDDEN_STATES_URL: d.sglang }));
    expect(errors(unsafe).some((f) => /another request's hidden state/.test(f.message))).toBe(true);
    const eagle = await doctor(at({ HIDDEN_STATES: "sglang-generate", HIDDEN_STATES_URL: d.sglangEagle }));
    expect(errors(eagle).some((f) => /EAGLE3/.test(f.message))).toBe(true);
    const safe = await doctor(at({ HIDDEN_STATES: "sglang-generate", HIDDEN_STATES_URL: d.sglangNoCache }));
    // Right for strong's prompts; but the reference predictors read conversations too, which SGLang cannot.
    expect(errors(safe).filter((f) => f.role === "hidden states" && f.model === "strong").map((f) => f.message)).toEqual([expect.stringMatching(/chat requests for strong cannot be predicted/)]);
    expect(safe.findings.some((f) => f.level === "ok" && f.model === "strong" && /each got their own hidden state/.test(f.message))).toBe(true);
    const sglangReward = await doctor(at({ REWARD_URL: d.sglangReward, REWARD_MODEL: "verifier", REWARDS: "vllm-classify" }));
    expect(errors(sglangReward).find((f) => f.role === "rewards")).toMatchObject({ setting: "REWARDS" });
  });

  it("needs the admin token", async () => {
    expect((await call("/admin/doctor")).status).toBe(401);
  });
});

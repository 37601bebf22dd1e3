// A user's own deployment, end to end, against stand-ins for the real servers whose
// protocol follows vLLM's source (test/doubles/vllm.ts, cited there): a generate-only
// instance, a pooling-only instance of the same weights, and a reward model behind
// /classify, for vLLM ≥ 0.21 (one pooling task per server) and for 0.11.0 (no task:
// per-token /pooling rows, conversations rendered without the generation prompt).
// The flow is docs/deploy.md's: doctor → collect (completions and hidden states at
// different URLs; prompts, and with --chat conversations) → train → publish → online chat
// and a batch through the gateway, whose predictions must be the ones the same vectors
// give offline.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReferenceLM } from "../../src/node/reference-lm/model.js";
import { DEFAULT_MODELS_DIR, loadModels } from "../../src/node/reference-lm/registry.js";
import { promptSet } from "../../src/node/reference-lm/task.js";
import { type VllmDouble, startVllmDouble } from "../doubles/vllm.js";
import { type RunningGateway, createTenant, startGateway } from "../../src/node/harness/gateway.js";
import { bin } from "../../src/node/harness/lm-server.js";

const MODEL = "acme/arith-7b";
const REWARD = "acme/verifier";

/** The CLI as a child process, without blocking this process (the doubles live here). */
function allot(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.once("exit", (status) => resolve({ status, stdout, stderr }));
  });
}

function writePrompts(dir: string, split: "train" | "validation" | "test", count: number, seed: number): string {
  const path = `${dir}/${split}.jsonl`;
  writeFileSync(path, promptSet(split, count, seed).map((p) => JSON.stringify(p)).join("\n") + "\n");
  return path;
}

/** The prompt's (or conversation's) hidden state as the pooling server gives it: the vector, or the last per-token row. */
async function pooled(pool: VllmDouble, prompt: string, chat = false): Promise<number[]> {
  const ask = chat ? { messages: [{ role: "user", content: prompt }], add_generation_prompt: true } : { input: [prompt] };
  const res = (await (await fetch(`${pool.url}/pooling`, { method: "POST", body: JSON.stringify({ model: MODEL, ...ask, task: "embed" }), headers: { "content-type": "application/json" } })).json()) as { data: { data: number[] | number[][] }[] };
  const d = res.data[0].data;
  return Array.isArray(d[0]) ? (d as number[][]).at(-1)! : (d as number[]);
}

let strong: ReferenceLM;
beforeAll(async () => {
  [strong] = await loadModels(DEFAULT_MODELS_DIR, ["strong"]);
});

describe.each(["0.22.0", "0.11.0"])("your own vLLM %s: doctor → collect → train → publish → serve", (version) => {
  let gen: VllmDouble;
  let pool: VllmDouble;
  let reward: VllmDouble;
  let gw: RunningGateway;
  let dir: string;
  let session: ort.InferenceSession;
  let chatSession: ort.InferenceSession;
  let client: OpenAI;
  let key: string;

  beforeAll(async () => {
    gen = await startVllmDouble({ version, runner: "generate", name: MODEL, weights: strong });
    pool = await startVllmDouble({ version, runner: "pooling", name: MODEL, weights: strong });
    reward = await startVllmDouble({ version, runner: "pooling", name: REWARD, weights: "verifier" });
    dir = mkdtempSync("/tmp/allot-deploy-");
    gw = await startGateway(gen.url, {
      // AUDIT_RATE 0: the tests count what reaches the LM, and an audit's background draws (5% of priced requests by default) would add to it.
      vars: { LM_MODEL: MODEL, HIDDEN_STATES_URL: pool.url, REWARD_URL: reward.url, REWARD_MODEL: REWARD, REWARDS: "vllm-classify", PREDICTOR_CACHE_SECONDS: "0", AUDIT_RATE: "0" },
    });
    ({ key } = await createTenant(gw));
    client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });
  }, 180_000);
  afterAll(async () => {
    await gw?.stop();
    await Promise.all([gen?.close(), pool?.close(), reward?.close()]);
  });

  it("the doctor finds the servers right before anything is collected", async () => {
    const r = await allot(["doctor", "--gateway", gw.url], { ADMIN_TOKEN: gw.admin });
    const lines = r.stdout.trim().split("\n");
    expect(lines.filter((l) => l.startsWith("ERROR"))).toEqual([]);
    expect(r.status).toBe(0);
    expect(lines.some((l) => l.startsWith("OK    generate") && l.includes(`vLLM ${version} generates ${MODEL}`))).toBe(true);
    expect(lines.some((l) => l.startsWith("OK    rewards") && l.includes("right 1.000 > wrong 0.000"))).toBe(true);
    // wrangler.toml's THINKING_MODELS names the reference LM's thinking model, which this vLLM does not serve: said, not an error.
    expect(lines.some((l) => l.startsWith("WARN  thinking") && l.includes("remove it from THINKING_MODELS unless you serve it"))).toBe(true);
    // 0.11.0's /pooling pools every token whatever the task: said, not an error.
    if (version === "0.11.0") expect(lines.some((l) => l.startsWith("WARN  hidden states") && l.includes("encode"))).toBe(true);
  });

  it("collects with completions and hidden states from different instances, as vLLM requires; prompts, and conversations with --chat", async () => {
    const common = ["--lm", gen.url, "--hidden-url", pool.url, "--model", MODEL, "--reward", REWARD, "--reward-url", reward.url, "--rewards", "vllm-classify", "--samples", "8"];
    for (const [split, count, seed] of [["train", 240, 1], ["validation", 60, 2]] as const) {
      const prompts = writePrompts(dir, split, count, seed);
      for (const [form, extra] of [["prompt", []], ["chat", ["--chat"]]] as const) {
        const r = await allot(["collect", "--prompts", prompts, "--out", `${dir}/data-${form}-${split}.jsonl`, ...common, ...extra]);
        expect(r.stderr).toContain(`collected ${count} prompts`);
        expect(r.status).toBe(0);
      }
    }
    // Hidden states came from the pooling instance only, asked as current vLLM takes them:
    // conversations with the generation prompt, as the gateway asks.
    const poolings = pool.requests.filter((q) => q.path === "/pooling");
    expect(poolings.length).toBeGreaterThan(0);
    expect(poolings.every((q) => q.body.task === "embed" && !("normalize" in q.body))).toBe(true);
    expect(poolings.filter((q) => q.body.messages).every((q) => q.body.add_generation_prompt === true)).toBe(true);
    expect(gen.requests.every((q) => q.path === "/v1/completions" || q.path === "/v1/chat/completions")).toBe(true);
    expect(reward.requests.every((q) => q.path === "/classify")).toBe(true);

    for (const form of ["prompt", "chat"]) {
      const t = await allot(["train", "--train", `${dir}/data-${form}-train.jsonl`, "--validation", `${dir}/data-${form}-validation.jsonl`, "--out", `${dir}/acme-${form}`]);
      expect(t.status).toBe(0);
    }
    session = await ort.InferenceSession.create(`${dir}/acme-prompt.onnx`);
    chatSession = await ort.InferenceSession.create(`${dir}/acme-chat.onnx`);
  }, 300_000);

  /** What the trained predictor of the form says offline, on the vector the pooling server gives now. */
  async function offline(prompt: string, chat = false): Promise<number> {
    const h = await pooled(pool, prompt, chat);
    const out = await (chat ? chatSession : session).run({ hidden: new ort.Tensor("float32", Float32Array.from(h), [1, h.length]) });
    return (out.p.data as Float32Array)[0];
  }

  it("publishes both, and the gateway lists the model", async () => {
    for (const form of ["prompt", "chat"]) {
      const r = await allot(["publish", "--predictor", `${dir}/acme-${form}`, "--gateway", gw.url], { ADMIN_TOKEN: gw.admin });
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain(`published acme-${form} (bernoulli, reads ${MODEL}'s hidden states)`);
    }
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toContain(MODEL);
    expect(ids).toContain("route");
  });

  it("serves an online chat with the chat-form predictor's prediction on the same vector offline", async () => {
    const prompt = "345+678=";
    const before = gen.requests.length;
    const { data, response } = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: prompt }], max_completion_tokens: 12 }).withResponse();
    expect(data.model).toBe(MODEL);
    const allotInfo = (data as unknown as { allot: { predicted_success: number; samples: number } }).allot;
    expect(Math.abs(allotInfo.predicted_success - (await offline(prompt, true)))).toBeLessThan(1e-5);
    expect(Number(response.headers.get("x-allot-samples"))).toBe(allotInfo.samples);
    // Samples from the generate instance (one call per round of waves), scored by the reward model's /classify.
    const calls = gen.requests.slice(before).map((q) => q.body as { model: string; n: number });
    expect(calls.every((b) => b.model === MODEL)).toBe(true);
    expect(calls.reduce((a, b) => a + b.n, 0)).toBe(allotInfo.samples);
    expect(reward.requests.at(-1)!.path).toBe("/classify");
  });

  it("runs a batch on it with the predictions the same vectors give offline", async () => {
    const prompts = promptSet("test", 8, 5);
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const sub = await fetch(`${gw.url}/v1/batches`, { method: "POST", headers, body: JSON.stringify({ model: MODEL, prompts: prompts.map((p) => ({ id: p.id, prompt: p.prompt })), budget: { average: 2, min: 1, max: 4 } }) });
    expect(sub.status).toBe(202);
    const { id } = (await sub.json()) as { id: string };
    let status = "";
    for (let i = 0; i < 600 && !["done", "failed", "cancelled"].includes(status); i++) {
      status = ((await (await fetch(`${gw.url}/v1/batches/${id}`, { headers })).json()) as { status: string }).status;
      if (status !== "done") await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe("done");
    const results = (await (await fetch(`${gw.url}/v1/batches/${id}/results`, { headers })).text()).trim().split("\n").map((l) => JSON.parse(l) as { id: string; predicted_success: number; status: string });
    expect(results).toHaveLength(prompts.length);
    for (const [i, r] of results.entries()) {
      expect(r.status).toBe("done");
      expect(Math.abs(r.predicted_success - (await offline(prompts[i].prompt)))).toBeLessThan(1e-5);
    }
  }, 120_000);

  it("takes every standard chat parameter (and nulls): the LM's own passed on, OpenAI's bookkeeping left out", async () => {
    const before = gen.requests.length;
    const data = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "system", content: "You add." }, { role: "user", content: "12+34=" }],
      max_completion_tokens: 8,
      max_tokens: null,
      temperature: 0.7,
      top_p: 0.95,
      n: 1,
      stop: ["\n"],
      seed: 7,
      frequency_penalty: 0.1,
      presence_penalty: 0.2,
      logit_bias: { "5": 1 },
      logprobs: true,
      top_logprobs: 2,
      response_format: { type: "json_object" },
      reasoning_effort: "low",
      verbosity: "low",
      tool_choice: "none",
      parallel_tool_calls: false,
      modalities: ["text"],
      audio: null,
      metadata: { run: "t" },
      store: false,
      service_tier: "auto",
      prompt_cache_key: "k",
      safety_identifier: "s",
      user: "u",
      prediction: null,
      stream: false,
      stream_options: null,
    });
    expect(data.choices[0].message.refusal).toBeNull();
    expect(data.choices[0].logprobs).not.toBeNull(); // the kept sample's, from the LM
    const sent = gen.requests.slice(before).map((q) => q.body);
    expect(sent.length).toBeGreaterThan(0);
    for (const body of sent) {
      expect(body).toMatchObject({ frequency_penalty: 0.1, presence_penalty: 0.2, logit_bias: { "5": 1 }, logprobs: true, top_logprobs: 2, response_format: { type: "json_object" }, reasoning_effort: "low", temperature: 0.7, top_p: 0.95 });
      for (const k of ["metadata", "store", "service_tier", "prompt_cache_key", "safety_identifier", "verbosity", "modalities", "tool_choice"]) expect(body).not.toHaveProperty(k);
    }
    // The client's stop is allot's to apply after scoring; the LM sees it only when one sample is drawn.
    expect(sent.every((b) => b.stop === undefined || (sent.length === 1 && b.n === 1))).toBe(true);
    expect(data.choices[0].message.content).not.toContain("\n");
  });

  it("streams a one-sample answer from a server that answers a stream request whole (as one piece)", async () => {
    const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "12+34=" }], temperature: 0, max_completion_tokens: 8, stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("46");
  });

  it("takes every standard completions parameter: a prompt array, echo, suffix, logprobs, best_of", async () => {
    const before = gen.requests.length;
    const { data, response } = await client.completions
      .create({ model: MODEL, prompt: ["12+34=", "345+678="], max_tokens: 8, temperature: 0.8, top_p: 1, echo: true, suffix: null, logprobs: 1, best_of: 3, n: 1, frequency_penalty: 0, presence_penalty: null, logit_bias: {}, seed: 3, stop: null, user: "u", stream: false })
      .withResponse();
    expect(data.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(data.choices[0].text.startsWith("12+34=")).toBe(true); // echo
    expect(data.choices[1].text.startsWith("345+678=")).toBe(true);
    expect(response.headers.get("x-allot-samples")).toBe("3,3"); // best_of pins the samples
    const sent = gen.requests.slice(before).map((q) => q.body);
    expect(sent.every((b) => b.logprobs === 1 && !("echo" in b) && !("best_of" in b) && !("frequency_penalty" in b) && !("logit_bias" in b))).toBe(true);
  });

  it("fails as the SDK expects: refused fields are BadRequestError, an unknown model NotFoundError, an LM refusal a 400 sent once", async () => {
    const refused = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "1+1=" }], functions: [{ name: "f" }] }).catch((e) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused.param).toBe("functions");
    const unknown = await client.chat.completions.create({ model: "gpt-9", messages: [{ role: "user", content: "1+1=" }] }).catch((e) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown.code).toBe("model_not_found");
    // Too long for the model's context: the LM's 400, passed on, never retried.
    const retrying = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 2 });
    const before = gen.requests.length;
    const long = await retrying.completions.create({ model: MODEL, prompt: "12345*54321=", max_tokens: 30, temperature: 0.8 }).catch((e) => e);
    expect(long).toBeInstanceOf(OpenAI.BadRequestError);
    expect(long.message).toContain("maximum context length");
    expect(long.code).toBe("context_length_exceeded");
    expect(long.message).not.toContain("127.0.0.1");
    expect(gen.requests.length - before).toBe(1);
  });

  it("refuses, with a 503 that says why, hidden states unlike those its predictor was trained on", async () => {
    // The shipped strong-binary was trained on raw states (norm ~14); this server answers
    // unit vectors (vLLM's default embed activation), or on 0.11.0 per-token rows softmaxed over the hidden dimension.
    const { default: manifest } = await import("../../models/predictors/strong-binary.manifest.json");
    const { readFile } = await import("node:fs/promises");
    const onnx = (await readFile(`${DEFAULT_MODELS_DIR}/predictors/strong-binary.onnx`)).toString("base64");
    const parity = JSON.parse(await readFile(`${DEFAULT_MODELS_DIR}/predictors/strong-binary.parity.json`, "utf8"));
    const put = await fetch(`${gw.url}/admin/predictors/acme-raw`, {
      method: "PUT",
      headers: { authorization: `Bearer ${gw.admin}`, "content-type": "application/json" },
      body: JSON.stringify({ manifest: { ...manifest, name: "acme-raw", lm: { ...manifest.lm, model: MODEL } }, onnx, parity }),
    });
    expect(put.status).toBe(201);
    const res = await fetch(`${gw.url}/v1/allocate`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ budget: 2, predictor: "acme-raw", model: MODEL, queries: [{ id: "a", prompt: "1+1=" }] }) });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(version === "0.11.0" ? "norm" : "unit vector");
  });
});

// The stand-ins for vLLM and SGLang (test/doubles/) do what their sources say each version
// does (cited in the doubles): the gateway's tests are only as true as these.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReferenceLM } from "../../src/node/reference-lm/model.js";
import { DEFAULT_MODELS_DIR, loadModels } from "../../src/node/reference-lm/registry.js";
import { type SglangDouble, startSglangDouble } from "../doubles/sglang.js";
import { type VllmDouble, type VllmDoubleOptions, startVllmDouble } from "../doubles/vllm.js";

let strong: ReferenceLM;
const open: { close(): Promise<void> }[] = [];
beforeAll(async () => {
  [strong] = await loadModels(DEFAULT_MODELS_DIR, ["strong"]);
});
afterAll(async () => {
  await Promise.all(open.map((d) => d.close()));
});

async function vllm(o: Omit<VllmDoubleOptions, "weights"> & { weights?: VllmDoubleOptions["weights"] }): Promise<VllmDouble> {
  const d = await startVllmDouble({ weights: strong, ...o });
  open.push(d);
  return d;
}
async function post(d: { url: string }, path: string, body: object) {
  const res = await fetch(`${d.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}

describe("the vLLM double, version by version", () => {
  it("a generate runner's pooling routes: 400 \"does not support Pooling API\" up to 0.15 (flat body before 0.10.1), FastAPI's 404 from 0.16", async () => {
    const v010 = await post(await vllm({ version: "0.10.0", runner: "generate", name: "m" }), "/pooling", { model: "m", input: ["1+1="] });
    expect(v010).toEqual({ status: 400, body: { object: "error", message: "The model does not support Pooling API", type: "BadRequestError", param: null, code: 400 } });
    const v015 = await post(await vllm({ version: "0.15.1", runner: "generate", name: "m" }), "/pooling", { model: "m", input: ["1+1="] });
    expect(v015.body.error.message).toBe("The model does not support Pooling API");
    const v022 = await post(await vllm({ version: "0.22.0", runner: "generate", name: "m" }), "/pooling", { model: "m", input: ["1+1="] });
    expect(v022).toEqual({ status: 404, body: { detail: "Not Found" } });
  });

  it("/pooling's task: ignored up to 0.11.0 (per-token rows), per-token by default on 0.11.1–0.20, the server's one task from 0.21", async () => {
    const rows = (b: any) => b.data[0].data as number[] | number[][];
    const old = await post(await vllm({ version: "0.11.0", runner: "pooling", name: "m" }), "/pooling", { model: "m", input: ["12+34="], task: "embed" });
    expect((rows(old.body) as number[][]).length).toBe(6);
    const v018 = await vllm({ version: "0.18.0", runner: "pooling", name: "m" });
    expect(Array.isArray(rows((await post(v018, "/pooling", { model: "m", input: ["12+34="] })).body)[0])).toBe(true);
    expect(Array.isArray(rows((await post(v018, "/pooling", { model: "m", input: ["12+34="], task: "embed" })).body)[0])).toBe(false);
    const v022 = await vllm({ version: "0.22.0", runner: "pooling", name: "m" });
    expect(v022.pooling).toBe("embed");
    expect(Array.isArray(rows((await post(v022, "/pooling", { model: "m", input: ["12+34="] })).body)[0])).toBe(false);
    const other = await post(v022, "/pooling", { model: "m", input: ["12+34="], task: "token_embed" });
    expect(other.body.error).toMatchObject({ message: "Try switching the model's pooling_task via --pooler-config.task token_embed.", param: "task" });
    expect((await post(v022, "/pooling", { model: "m", input: ["1"], task: "classify" })).body.error.message).toBe("Unsupported task: 'classify' Supported tasks: ('embed', 'token_embed')");
    expect((await post(v022, "/pooling", { model: "m", input: ["1"], task: "encode" })).body.error.message).toContain("`encode` task was removed");
    await expect(vllm({ version: "0.22.0", runner: "pooling", name: "m", poolerTask: "classify" })).rejects.toThrow(/Unsupported task: 'classify'/);
  });

  it("a reward model's /classify: 501 when classify is supported but not the selected task (≥ 0.21); a PRM has none", async () => {
    const tokens = await vllm({ version: "0.22.0", runner: "pooling", name: "rm", weights: "classifier-2", poolerTask: "token_classify" });
    expect((await post(tokens, "/classify", { model: "rm", input: ["12+34=46"] })).body.error).toMatchObject({ type: "NotImplementedError", code: 501 });
    const prm = await vllm({ version: "0.22.0", runner: "pooling", name: "prm", weights: "prm" });
    expect((await post(prm, "/classify", { model: "prm", input: ["12+34=46"] })).status).toBe(404);
    const steps = (await post(prm, "/pooling", { model: "prm", input: ["12+34=46"] })).body.data[0].data as number[][];
    expect(steps).toHaveLength(8);
    expect(steps.at(-1)![1]).toBeGreaterThan(0.9); // index 1 is "good"
    const two = await vllm({ version: "0.22.0", runner: "pooling", name: "rm", weights: "classifier-2" });
    const c = (await post(two, "/classify", { model: "rm", input: ["12+34=46", "12+34=47"] })).body.data;
    expect(c.map((x: any) => x.label)).toEqual(["LABEL_1", "LABEL_0"]);
  });

  it("a generate runner refuses suffix and a reasoning_effort outside its version's values; chat answers carry reasoning or reasoning_content by version", async () => {
    const v022 = await vllm({ version: "0.22.0", runner: "generate", name: "m" });
    expect((await post(v022, "/v1/completions", { model: "m", prompt: "1+1=", suffix: "" })).body.error.message).toBe("suffix is not currently supported");
    expect((await post(v022, "/v1/chat/completions", { model: "m", messages: [{ role: "user", content: "1+1=" }], reasoning_effort: "xhigh", max_tokens: 2 })).status).toBe(200);
    const v010 = await vllm({ version: "0.10.2", runner: "generate", name: "m" });
    expect((await post(v010, "/v1/chat/completions", { model: "m", messages: [{ role: "user", content: "1+1=" }], reasoning_effort: "xhigh" })).status).toBe(400);
    expect((await post(v010, "/v1/chat/completions", { model: "m", messages: [{ role: "user", content: "1+1=" }], max_tokens: 2 })).body.choices[0].message).toHaveProperty("reasoning_content");
    expect((await post(v022, "/v1/chat/completions", { model: "m", messages: [{ role: "user", content: "1+1=" }], max_tokens: 2 })).body.choices[0].message).not.toHaveProperty("reasoning_content");
  });
});

describe("the SGLang double's scheduler", () => {
  let plain: SglangDouble;
  beforeAll(async () => {
    plain = await startSglangDouble({ lm: strong, name: "m" });
    open.push(plain);
  });
  const generate = (d: SglangDouble, text: string, hidden: boolean | "last" = true) =>
    post(d, "/generate", { text, sampling_params: { max_new_tokens: 1, temperature: 0 }, return_hidden_states: hidden }).then((r) => r.body as any);

  it("batches calls that arrive together, and on a prefix-cache hit returns only the uncached suffix's rows", async () => {
    await generate(plain, "12+3456=");
    const before = plain.batches.length;
    const [a, b] = await Promise.all([generate(plain, "12+34="), generate(plain, "1+1=")]);
    expect(plain.batches.slice(before)).toEqual([2]);
    expect(a.meta_info.cached_tokens).toBe(5);
    // Before PR #30177 the second request's slice starts past the batch's rows (#4997): empty.
    expect(b.meta_info.hidden_states[0]).toEqual([]);
  });

  it("a batch mixing hidden-state requests with ordinary completions misassigns them until #32089 is fixed", async () => {
    const last = await startSglangDouble({ lm: strong, name: "m", fixes: "last", disableRadixCache: true });
    const all = await startSglangDouble({ lm: strong, name: "m", fixes: "all", disableRadixCache: true });
    open.push(last, all);
    for (const [d, right] of [[last, false], [all, true]] as const) {
      const [alone] = [await generate(d, "12+34=", "last")];
      const [, mixed] = await Promise.all([post(d, "/v1/completions", { model: "m", prompt: "999+1=", max_tokens: 1 }), generate(d, "12+34=", "last")]);
      const same = (mixed.meta_info.hidden_states[0] as number[]).every((x, j) => Math.abs(x - alone.meta_info.hidden_states[0][j]) < 1e-6);
      expect(same).toBe(right);
    }
  });

  it("reports its server args and version; a reward model's /v1/classify softmaxes a one-label output to 1.0", async () => {
    const info = (await (await fetch(`${plain.url}/get_server_info`)).json()) as Record<string, unknown>;
    expect(info).toMatchObject({ disable_radix_cache: false, enable_return_hidden_states: true, version: "0.4.10" });
    const rm = await startSglangDouble({ lm: null, reward: "verifier", name: "rm" });
    open.push(rm);
    expect((await post(rm, "/classify", { text: ["12+34=46", "12+34=47"] })).body.map((o: any) => o.embedding)).toEqual([[1], [0]]);
    expect((await post(rm, "/v1/classify", { input: ["12+34=46", "12+34=47"] })).body.data.map((o: any) => o.probs)).toEqual([[1], [1]]);
  });
});

import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatCompletionResponseSchema, CompletionResponseSchema, GenerateResponseSchema, ModelListSchema, PoolingResponseSchema } from "../../src/core/contracts/lm-protocol.js";
import { LmManifestSchema } from "../../src/node/reference-lm/manifest.js";
import { answerOf } from "../../src/node/reference-lm/task.js";
import { taskOf } from "../../src/node/reference-lm/tasks.js";
import { type RunningServer, postJson, startLmServer } from "../../src/node/harness/lm-server.js";

const modelsDir = new URL("../../models/", import.meta.url);
const manifests = readdirSync(modelsDir)
  .filter((f) => f.endsWith(".manifest.json"))
  .map((f) => LmManifestSchema.parse(JSON.parse(readFileSync(new URL(f, modelsDir), "utf8"))));
const names = manifests.map((m) => m.name);

let server: RunningServer;
beforeAll(async () => {
  server = await startLmServer();
});
afterAll(async () => {
  await server?.stop();
});

const completions = (body: unknown) => postJson(`${server.url}/v1/completions`, body);
const pooling = (body: unknown) => postJson(`${server.url}/pooling`, body);

describe("the committed models", () => {
  it("ship a strong, a weak and a thinking model, each with a success table over its task's cells", () => {
    expect(names).toEqual(expect.arrayContaining(["strong", "weak", "thinking"]));
    for (const m of manifests) {
      const cells = taskOf(m).cells();
      expect(Object.keys(m.success?.cells ?? {}).sort(), m.name).toEqual([...cells].sort());
      // A thinking model's table is also measured at each thinking budget.
      if (m.thinking) for (const table of Object.values(m.success!.thinking_budgets ?? {})) expect(Object.keys(table).sort()).toEqual([...cells].sort());
    }
    expect(manifests.filter((m) => !m.thinking).every((m) => Object.keys(m.success!.cells).length === 50)).toBe(true);
    expect(Object.keys(manifests.find((m) => m.name === "thinking")!.success!.thinking_budgets!)).toEqual(["0", "2", "4", "8", "16", "32", "64"]);
  });

  // Each model reproduces its manifest's single-sample success rates on fresh problems of
  // its task (another seed), within binomial noise: 4 standard deviations of the difference
  // of the two estimates, plus 0.02. A thinking model at unlimited thinking and at two
  // budgets, forced over HTTP with thinking_token_budget.
  for (const m of manifests) {
    it(`${m.name} reproduces its manifest's success rates over HTTP`, async () => {
      const table = m.success!;
      const task = taskOf(m);
      const tables: [number | null, Record<string, number>][] = [[null, table.cells]];
      if (m.thinking) tables.push([4, table.thinking_budgets!["4"]], [16, table.thinking_budgets!["16"]]);
      const samples = 300;
      for (const [budget, rates] of tables) {
        const cells = Object.entries(rates)
          .filter(([, p]) => p > 0.15 && p < 0.85)
          .slice(0, m.thinking ? 2 : 4);
        expect(cells.length).toBeGreaterThan(0);
        for (const [cell, p] of cells) {
          const records = task.promptSet("test", samples, 4242, [cell]);
          const { status, json } = await completions({
            model: m.name,
            prompt: records.map((r) => r.prompt),
            temperature: table.temperature,
            top_p: table.top_p,
            max_tokens: m.thinking ? 70 : 12,
            seed: 99,
            ...(budget === null ? {} : { thinking_token_budget: budget }),
          });
          expect(status).toBe(200);
          const passed = json.choices.filter((c: { index: number; text: string }) => answerOf(c.text) === records[c.index].answer).length;
          const sd = Math.sqrt(p * (1 - p) * (1 / samples + 1 / table.samples_per_cell));
          expect(Math.abs(passed / samples - p), `${m.name} ${cell} at budget ${budget ?? "unlimited"}`).toBeLessThanOrEqual(4 * sd + 0.02);
        }
      }
    });
  }
});

describe("GET /v1/models and /health", () => {
  it("lists the LMs and the reward models", async () => {
    const res = await fetch(`${server.url}/v1/models`);
    const list = ModelListSchema.parse(await res.json());
    expect(list.data.map((d) => d.id).sort()).toEqual([...names, "verifier-binary", "verifier-graded"].sort());
    expect(list.data.find((d) => d.id === "strong")?.max_model_len).toBe(32);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });
});

describe("POST /v1/completions", () => {
  it("answers in OpenAI's shape, n samples per prompt, prompt-major, with real token counts", async () => {
    const { status, json } = await completions({ model: "weak", prompt: ["1+1=", "12+34="], n: 3, temperature: 0, max_tokens: 8 });
    expect(status).toBe(200);
    const res = CompletionResponseSchema.parse(json);
    expect(res.choices.map((c) => c.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(res.choices.slice(0, 3).map((c) => c.text)).toEqual(["2", "2", "2"]);
    expect(res.choices.slice(3).map((c) => c.text)).toEqual(["46", "46", "46"]);
    expect(res.choices.every((c) => c.finish_reason === "stop")).toBe(true);
    // Prompt tokens count each prompt once (4 + 6); completion tokens count every sample's
    // characters plus its end-of-sequence token: 3 × (1 + 1) + 3 × (2 + 1).
    expect(res.usage).toEqual({ prompt_tokens: 10, completion_tokens: 15, total_tokens: 25 });
  });

  it("reproduces samples for the same seed, and varies them across seeds", async () => {
    const req = { model: "weak", prompt: "345+678=", n: 16, temperature: 1.2, max_tokens: 8 };
    const a = await completions({ ...req, seed: 7 });
    const b = await completions({ ...req, seed: 7 });
    const c = await completions({ ...req, seed: 8 });
    const texts = (r: { json: { choices: { text: string }[] } }) => r.json.choices.map((x) => x.text);
    expect(texts(a)).toEqual(texts(b));
    expect(texts(a)).not.toEqual(texts(c));
  });

  it("a sample's seed does not depend on the other prompts in the request", async () => {
    const alone = await completions({ model: "weak", prompt: ["345+678="], n: 4, temperature: 1, seed: 3, max_tokens: 8 });
    const mixed = await completions({ model: "weak", prompt: ["345+678=", "9*9="], n: 4, temperature: 1, seed: 3, max_tokens: 8 });
    expect(mixed.json.choices.slice(0, 4).map((c: { text: string }) => c.text)).toEqual(alone.json.choices.map((c: { text: string }) => c.text));
  });

  it("stops at max_tokens with finish_reason length, and at a stop string", async () => {
    const long = await completions({ model: "weak", prompt: "99999*99999=", temperature: 0, max_tokens: 3 });
    expect(long.json.choices[0].finish_reason).toBe("length");
    expect(long.json.choices[0].text).toHaveLength(3);
    expect(long.json.usage.completion_tokens).toBe(3);
    const stopped = await completions({ model: "weak", prompt: "12+34=", temperature: 0, max_tokens: 8, stop: "6" });
    expect(stopped.json.choices[0]).toMatchObject({ text: "4", finish_reason: "stop" });
  });

  it.each([
    [{ model: "nope", prompt: "1+1=" }, 404, "model"],
    [{ prompt: "1+1=" }, 400, "model"],
    [{ model: "weak", prompt: "hello" }, 400, "prompt"],
    [{ model: "weak", prompt: ["1+1=", "x"] }, 400, "prompt[1]"],
    [{ model: "weak", prompt: "" }, 400, "prompt"],
    [{ model: "weak", prompt: "1+1=", n: 1000 }, 400, "n"],
    [{ model: "weak", prompt: "1+1=", max_tokens: 100 }, 400, "max_tokens"],
    [{ model: "weak", prompt: "1+1=", temperature: -1 }, 400, "temperature"],
    [{ model: "weak", prompt: "1+1=", stream: "yes" }, 400, "stream"],
    [{ model: "weak", prompt: "1+1=", logit_bias: {} }, 400, null],
    [{ model: "weak", prompt: Array(100).fill("1+1="), n: 128 }, 400, "n"],
  ])("rejects %j with %i naming %s", async (body, status, param) => {
    const res = await completions(body);
    expect(res.status).toBe(status);
    expect(res.json.error.code).toBe(String(status));
    expect(res.json.error.message.length).toBeGreaterThan(0);
    if (param !== null) expect(res.json.error.param).toBe(param);
  });

  it("keeps and ignores fields it does not know, as vLLM does", async () => {
    const res = await completions({ model: "weak", prompt: "12+34=", temperature: 0, top_k: 5, min_p: 0.1 });
    expect(res.status).toBe(200);
  });

  it("streams each sample's text as it is generated, holding back what could start a stop string", async () => {
    const res = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "weak", prompt: "12+34=", temperature: 0, max_tokens: 8, stop: ["6"], stream: true, stream_options: { include_usage: true } }),
    });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const events = (await res.text()).split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6));
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.map((c) => c.choices[0]?.text ?? "").join("")).toBe("4");
    expect(chunks.at(-2).choices[0].finish_reason).toBe("stop");
    expect(chunks.at(-1).usage.completion_tokens).toBeGreaterThan(0);
  });

  it("rejects a body that is not JSON", async () => {
    const res = await fetch(`${server.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: "{" });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe("invalid_request_error");
  });
});

describe("POST /v1/chat/completions with tools, and /v1/embeddings", () => {
  const chat = (body: unknown) => postJson(`${server.url}/v1/chat/completions`, body);
  const tools = [{ type: "function", function: { name: "check", parameters: { type: "object", properties: { answer: { type: "number" } } } } }];

  it("answers through the first tool while the user has the last word, in text after the tool's result", async () => {
    const asked = await chat({ model: "strong", messages: [{ role: "user", content: "12+34=" }], temperature: 0, tools });
    const msg = asked.json.choices[0].message;
    expect(asked.json.choices[0].finish_reason).toBe("tool_calls");
    expect(msg.content).toBeNull();
    expect(msg.tool_calls[0]).toMatchObject({ type: "function", function: { name: "check", arguments: '{"answer":46}' } });
    const after = await chat({
      model: "strong",
      temperature: 0,
      tools,
      messages: [{ role: "user", content: "12+34=" }, msg, { role: "tool", tool_call_id: msg.tool_calls[0].id, content: "correct" }],
    });
    expect(after.json.choices[0].message).toMatchObject({ role: "assistant", content: "46" });
    const none = await chat({ model: "strong", messages: [{ role: "user", content: "12+34=" }], temperature: 0, tools, tool_choice: "none" });
    expect(none.json.choices[0].message.content).toBe("46");
    const unknown = await chat({ model: "strong", messages: [{ role: "user", content: "12+34=" }], tools, tool_choice: { type: "function", function: { name: "nope" } } });
    expect(unknown.status).toBe(400);
  });

  it("embeds as floats or base64 float32, L2-normalised", async () => {
    const floats = await postJson(`${server.url}/v1/embeddings`, { model: "strong", input: ["1+1=", "2+2="] });
    const v = floats.json.data[1].embedding as number[];
    expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    const b64 = await postJson(`${server.url}/v1/embeddings`, { model: "strong", input: "2+2=", encoding_format: "base64" });
    const buf = Buffer.from(b64.json.data[0].embedding as string, "base64");
    const decoded = Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4));
    expect(decoded).toHaveLength(v.length);
    decoded.forEach((x, i) => expect(x).toBeCloseTo(v[i], 6));
  });
});

describe("POST /pooling", () => {
  it("returns the last token's hidden state, deterministically, in vLLM's shape", async () => {
    const req = { model: "strong", input: ["12+34=", "5*5=", "12+34="] };
    const a = PoolingResponseSchema.parse((await pooling(req)).json);
    const b = PoolingResponseSchema.parse((await pooling(req)).json);
    const d = manifests.find((m) => m.name === "strong")!.hidden_size;
    expect(a.data.map((x) => x.data.length)).toEqual([d, d, d]);
    expect(a.data.map((x) => x.index)).toEqual([0, 1, 2]);
    expect(a.data[0].data).toEqual(b.data[0].data);
    expect(a.data[0].data).toEqual(a.data[2].data); // same prompt in another batch position
    expect(a.data[0].data).not.toEqual(a.data[1].data);
    expect(a.usage.prompt_tokens).toBe(6 + 4 + 6);
  });

  it("serves raw states, L2-normalised only with use_activation, and refuses normalize as current vLLM does", async () => {
    const raw = (await pooling({ model: "weak", input: "12+34=" })).json.data[0].data as number[];
    const embed = (await pooling({ model: "weak", input: "12+34=", task: "embed" })).json.data[0].data as number[];
    const unit = (await pooling({ model: "weak", input: "12+34=", use_activation: true })).json.data[0].data as number[];
    expect(embed).toEqual(raw);
    expect(Math.hypot(...raw)).not.toBeCloseTo(1, 3);
    expect(Math.hypot(...unit)).toBeCloseTo(1, 6);
    const refused = await pooling({ model: "weak", input: "12+34=", normalize: false });
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatchObject({ param: "normalize", message: "Parameter `normalize` was removed; use `use_activation` instead." });
    for (const [task, param] of [["encode", "task"], ["score", "task"], ["classify", "task"]]) {
      expect((await pooling({ model: "weak", input: "1+1=", task })).json.error.param).toBe(param);
    }
  });

  it("token_embed gives one row per token, the last of which is the embed vector", async () => {
    const raw = (await pooling({ model: "weak", input: "12+34=" })).json.data[0].data as number[];
    const rows = (await pooling({ model: "weak", input: "12+34=", task: "token_embed" })).json.data[0].data as number[][];
    expect(rows).toHaveLength("12+34=".length);
    rows.at(-1)!.forEach((x, j) => expect(x).toBeCloseTo(raw[j], 5));
  });

  it("serves the verifiers through /classify as vLLM serves a one-label classifier", async () => {
    const res = await postJson(`${server.url}/classify`, { model: "verifier-binary", input: ["12+34=46", "12+34=47"] });
    expect(res.status).toBe(200);
    expect(res.json.data.map((d: { probs: number[]; num_classes: number }) => [d.probs, d.num_classes])).toEqual([[[1], 1], [[0], 1]]);
    expect((await postJson(`${server.url}/classify`, { model: "weak", input: "1+1=" })).status).toBe(400);
  });

  it("scores prompt+completion with the binary and graded verifiers", async () => {
    const input = ["12+34=46", "12+34=47", "12+34=4x", "12+34=46\n", "123*45=5535"];
    const binary = (await pooling({ model: "verifier-binary", input })).json.data.map((d: { data: number[] }) => d.data[0]);
    const graded = (await pooling({ model: "verifier-graded", input })).json.data.map((d: { data: number[] }) => d.data[0]);
    expect(binary).toEqual([1, 0, 0, 1, 1]);
    expect(graded).toEqual([1, 0.5, 0, 1, 1]);
  });

  it.each([
    [{ model: "verifier-binary", input: "hello" }, 400, "input"],
    [{ model: "weak", input: ["1+1=", "?"] }, 400, "input[1]"],
    [{ model: "weak", input: [] }, 400, "input"],
    [{ model: "weak", input: "1".repeat(40) }, 400, "input"],
    [{ model: "nope", input: "1+1=" }, 404, "model"],
  ])("rejects %j with %i naming %s", async (body, status, param) => {
    const res = await pooling(body);
    expect(res.status).toBe(status);
    expect(res.json.error.param).toBe(param);
  });
});

describe("POST /generate (SGLang's native shape)", () => {
  const generate = (body: unknown) => postJson(`${server.url}/generate`, body);

  it("returns the prefill's per-token hidden states; the last row is /pooling's vector", async () => {
    const prompts = ["12+34=", "5*5="];
    const res = await generate({ text: prompts, sampling_params: { max_new_tokens: 1, temperature: 0 }, return_hidden_states: true });
    expect(res.status).toBe(200);
    const out = GenerateResponseSchema.parse(res.json);
    const pooled = PoolingResponseSchema.parse((await pooling({ model: "strong", input: prompts })).json);
    const d = manifests.find((m) => m.name === "strong")!.hidden_size;
    out.forEach((o, i) => {
      const prefill = o.meta_info.hidden_states![0] as number[][];
      expect(prefill).toHaveLength(prompts[i].length); // one row per character token
      expect(prefill.every((row) => row.length === d)).toBe(true);
      prefill[prefill.length - 1].forEach((x, j) => expect(x).toBeCloseTo((pooled.data[i].data as number[])[j], 5));
      expect(o.meta_info.prompt_tokens).toBe(prompts[i].length);
      expect(o.meta_info.completion_tokens).toBe(1);
    });
  });

  it("leaves hidden states out unless asked, and answers one object for one text", async () => {
    const res = await generate({ text: "1+1=", sampling_params: { max_new_tokens: 4, temperature: 0 } });
    expect(res.status).toBe(200);
    expect(res.json.text).toBe("2"); // greedy: the right answer
    expect(res.json.meta_info.hidden_states).toBeUndefined();
  });

  it.each([
    [{ text: [] }, "text"],
    [{ text: "hello" }, "text"],
    [{ text: "1+1=", sampling_params: { max_new_tokens: 0 } }, "sampling_params.max_new_tokens"],
  ])("rejects %j naming %s", async (body, param) => {
    const res = await generate(body);
    expect(res.status).toBe(400);
    expect(res.json.error.param).toBe(param);
  });
});

describe("the thinking model: budgets as vLLM spells them, forced as the server promises", () => {
  // 6 operands of 3 digits: the full scratchpad is 59 thinking tokens.
  const long = "123+456+789+321+654+987=";
  const chat = (body: unknown) => postJson(`${server.url}/v1/chat/completions`, body);
  type Choice = { text: string; token_ids: number[]; finish_reason: string };
  /** The thinking tokens of a sample: its token ids between <think> (13) and </think> (14). */
  const thought = (ids: readonly number[]) => {
    const start = ids.indexOf(13);
    const end = ids.indexOf(14);
    return start < 0 ? [] : ids.slice(start + 1, end < 0 ? undefined : end);
  };

  it("caps each sample's thinking at thinking_token_budget, closing it with </think>, and counts it as reasoning tokens", async () => {
    for (const budget of [0, 4, 16]) {
      const { status, json } = await completions({ model: "thinking", prompt: long, n: 8, temperature: 0.8, max_tokens: 70, seed: 5, thinking_token_budget: budget, return_token_ids: true });
      expect(status).toBe(200);
      const res = CompletionResponseSchema.parse(json);
      let reasoning = 0;
      for (const c of res.choices as Choice[]) {
        expect(c.text.startsWith("<think>")).toBe(true);
        const t = thought(c.token_ids);
        expect(t).toHaveLength(budget); // this problem needs more than any of these budgets
        expect(c.token_ids[budget + 1]).toBe(14); // the forced end marker, right after the budget
        expect(c.text).toContain("</think>");
        expect(c.token_ids.at(-1)).toBe(0); // the end-of-sequence token, counted, not in the text
        reasoning += t.length;
      }
      expect(res.usage.completion_tokens).toBe(res.choices.reduce((s, c) => s + (c as Choice).token_ids.length, 0));
      expect(res.usage.completion_tokens_details).toEqual({ reasoning_tokens: reasoning });
    }
  });

  it("draws every token as usual, forced or not: a sample's thinking under a budget is the start of its unlimited thinking", async () => {
    const req = { model: "thinking", prompt: long, n: 6, temperature: 1, max_tokens: 70, seed: 11, return_token_ids: true };
    const free = (await completions(req)).json.choices as Choice[];
    const capped = (await completions({ ...req, thinking_token_budget: 20 })).json.choices as Choice[];
    const unlimited = (await completions({ ...req, thinking_token_budget: -1 })).json.choices as Choice[];
    expect(unlimited.map((c) => c.text)).toEqual(free.map((c) => c.text)); // -1 is unlimited, as leaving it out
    free.forEach((c, k) => {
      expect(thought(free[k].token_ids).length).toBeGreaterThan(20);
      expect(thought(capped[k].token_ids)).toEqual(thought(c.token_ids).slice(0, 20));
    });
    // Unlimited, the model closes its scratchpad itself once the sum is down to two terms.
    expect(free.filter((c) => c.finish_reason === "stop").length).toBe(free.length);
  });

  it("maps reasoning_effort to the budgets its manifest lists; an explicit thinking_token_budget wins", async () => {
    const effort = manifests.find((m) => m.name === "thinking")!.thinking!.reasoning_effort!;
    expect(effort).toMatchObject({ none: 0, low: 8, high: 32, max: null });
    const req = { model: "thinking", prompt: long, n: 4, temperature: 0.8, max_tokens: 70, seed: 3 };
    const texts = (r: { json: { choices: { text: string }[] } }) => r.json.choices.map((c) => c.text);
    expect(texts(await completions({ ...req, reasoning_effort: "low" }))).toEqual(texts(await completions({ ...req, thinking_token_budget: 8 })));
    expect(texts(await completions({ ...req, reasoning_effort: "max" }))).toEqual(texts(await completions(req)));
    const none = await completions({ ...req, reasoning_effort: "none" });
    expect(none.json.usage.completion_tokens_details.reasoning_tokens).toBe(0);
    expect(none.json.choices.every((c: { text: string }) => c.text.startsWith("<think></think>"))).toBe(true);
    expect(texts(await completions({ ...req, reasoning_effort: "none", thinking_token_budget: 8 }))).toEqual(texts(await completions({ ...req, thinking_token_budget: 8 })));
  });

  it("chat returns the thinking apart from the answer, as vLLM's reasoning parser does (message.reasoning)", async () => {
    const res = await chat({ model: "thinking", messages: [{ role: "user", content: "17+305+9+48=" }], n: 2, temperature: 0, max_tokens: 70, return_token_ids: true });
    expect(res.status).toBe(200);
    const parsed = ChatCompletionResponseSchema.parse(res.json);
    for (const c of parsed.choices) expect(c.message).toEqual({ role: "assistant", content: "379", reasoning: "322+9+48=331+48" });
    expect(parsed.usage.completion_tokens_details).toEqual({ reasoning_tokens: 2 * 15 });
    expect(parsed.choices[0].token_ids!.length).toBe(1 + 15 + 1 + 3 + 1);
    const capped = await chat({ model: "thinking", messages: [{ role: "user", content: "17+305+9+48=" }], temperature: 0, max_tokens: 70, reasoning_effort: "none", include_reasoning: false });
    expect(capped.json.choices[0].message.reasoning).toBeNull();
    expect(capped.json.usage.completion_tokens_details.reasoning_tokens).toBe(0);
    // Two operands need no thinking: an empty scratchpad is reasoning "", as vLLM's parser gives it.
    const direct = await chat({ model: "thinking", messages: [{ role: "user", content: "12+34=" }], temperature: 0, max_tokens: 8 });
    expect(direct.json.choices[0].message).toEqual({ role: "assistant", content: "46", reasoning: "" });
  });

  it("the verifiers score the answer after </think>, for sums of any number of operands", async () => {
    const input = ["17+305+9+48=<think>322+9+48=331+48</think>379", "17+305+9+48=<think>322+9+48</think>378", "17+305+9+48=<think>322+9+48=331+48", "17+305+9+48=379", "12+34=<think></think>46\n"];
    const binary = (await pooling({ model: "verifier-binary", input })).json.data.map((d: { data: number[] }) => d.data[0]);
    const graded = (await pooling({ model: "verifier-graded", input })).json.data.map((d: { data: number[] }) => d.data[0]);
    expect(binary).toEqual([1, 0, 0, 1, 1]);
    expect(graded).toEqual([1, 2 / 3, 0, 1, 1]);
    const conversation = [{ role: "user", content: "1+2+3=" }, { role: "assistant", content: "6" }];
    expect((await pooling({ model: "verifier-binary", messages: conversation })).json.data[0].data).toEqual([1]);
  });

  it.each([
    [{ model: "thinking", prompt: "1+2+3=", thinking_token_budget: -2 }, "thinking_token_budget"],
    [{ model: "thinking", prompt: "1+2+3=", thinking_token_budget: 1.5 }, "thinking_token_budget"],
    [{ model: "thinking", prompt: "1+2+3=", thinking_token_budget: true }, "thinking_token_budget"],
    [{ model: "thinking", prompt: "1+2+3=", reasoning_effort: "extreme" }, "reasoning_effort"],
    [{ model: "strong", prompt: "1+2=", thinking_token_budget: 4 }, "thinking_token_budget"],
    [{ model: "weak", prompt: "1+2=", reasoning_effort: "low" }, "reasoning_effort"],
    [{ model: "thinking", prompt: "1+2+3=", max_tokens: 91 }, "max_tokens"],
  ])("rejects %j naming %s", async (body, param) => {
    const res = await completions(body);
    expect(res.status).toBe(400);
    expect(res.json.error.param).toBe(param);
    if (param === "thinking_token_budget" && body.model === "thinking") expect(res.json.error.message).toContain("`thinking_token_budget` must be a non-negative integer or -1 for unlimited.");
  });

  it("leaves the models that do not think as they were: -1 is accepted, and usage has no reasoning breakdown", async () => {
    const res = await completions({ model: "strong", prompt: "12+34=", temperature: 0, max_tokens: 8, thinking_token_budget: -1 });
    expect(res.status).toBe(200);
    expect(res.json.choices[0].text).toBe("46");
    expect(res.json.usage).toEqual({ prompt_tokens: 6, completion_tokens: 3, total_tokens: 9 });
  });
});

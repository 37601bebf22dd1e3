// The official `openai` npm package, unchanged, pointed at the running gateway
// (`allot serve-gateway`: workerd as `wrangler dev` runs it, on loopback) in front of the real reference LM: base URL +
// API key is all a user changes.
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningGateway, createTenant, startGateway } from "../../src/node/harness/gateway.js";
import { type RunningServer, startLmServer } from "../../src/node/harness/lm-server.js";

let lm: RunningServer;
let gw: RunningGateway;
let client: OpenAI;

beforeAll(async () => {
  lm = await startLmServer();
  gw = await startGateway(lm.url, { vars: { EMBEDDINGS_URL: lm.url } });
  const { key } = await createTenant(gw);
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key });
});
afterAll(async () => {
  await gw?.stop();
  await lm?.stop();
});

const ask = (content: string): OpenAI.Chat.ChatCompletionMessageParam[] => [
  { role: "system", content: "You are a calculator." },
  { role: "user", content },
];

describe("the official OpenAI client against allot", () => {
  it("completions: the best of k samples, with what allot did in the headers and the body", async () => {
    const { data, response } = await client.completions.create({ model: "strong", prompt: "345+678=", max_tokens: 12, temperature: 0.8 }).withResponse();
    expect(data.object).toBe("text_completion");
    expect(data.choices).toHaveLength(1);
    const units = Number(response.headers.get("x-allot-units"));
    expect(units).toBeGreaterThanOrEqual(1);
    expect((data as unknown as { allot: { units: number } }).allot.units).toBe(units);
    expect(data.usage!.completion_tokens).toBeGreaterThanOrEqual(units);
  });

  it("chat: more samples for a hard question than for an easy one (k decided up front: one round)", async () => {
    const oneRound = { headers: { "x-allot-rounds": "1" } };
    const hard = await client.chat.completions.create({ model: "strong", messages: ask("345+678="), max_completion_tokens: 12, temperature: 0.8 }, oneRound).withResponse();
    const easy = await client.chat.completions.create({ model: "strong", messages: ask("12+34="), max_completion_tokens: 12, temperature: 0.8 }, oneRound).withResponse();
    expect(hard.data.choices[0].message.role).toBe("assistant");
    expect(easy.data.choices[0].message.content).toBe("46");
    expect(Number(hard.response.headers.get("x-allot-units"))).toBeGreaterThan(Number(easy.response.headers.get("x-allot-units")));
  });

  it("routing: model \"route\" answers with the model the router picked", async () => {
    const { data, response } = await client.chat.completions
      .create({ model: "route", messages: ask("12345+678="), max_completion_tokens: 12, temperature: 0.8 })
      .withResponse();
    expect(data.model).toBe("strong"); // the weak model solves 9% of these, the strong one 86%
    expect(response.headers.get("x-allot-model")).toBe("strong");
    const weak = await client.chat.completions.create({ model: "route", messages: ask("54321+9876="), max_completion_tokens: 12, temperature: 0.8 });
    expect(weak.model).toBe("weak"); // and the other way round: 69% against 0%
  });

  it("streams chat and completions through the SDK's stream reader", async () => {
    const stream = await client.chat.completions.create({
      model: "strong",
      messages: ask("12+34="),
      max_completion_tokens: 12,
      temperature: 0.8,
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(content).toBe("46");
    expect(finish).toBe("stop");
    expect(usage!.total_tokens).toBeGreaterThan(0);

    const text = await client.completions.create({ model: "strong", prompt: "12+34=", max_tokens: 12, stream: true });
    let out = "";
    for await (const chunk of text) out += chunk.choices[0]?.text ?? "";
    expect(out).toBe("46");
  });

  it("surfaces errors as the SDK's typed errors", async () => {
    const bad = await client.chat.completions.create({ model: "strong", messages: ask("1+1="), n: 0 }).catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.param).toBe("n");

    const anonymous = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: "sk-not-a-key" });
    const unauth = await anonymous.completions.create({ model: "strong", prompt: "1+1=" }).catch((e) => e);
    expect(unauth).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it("a budget error is a RateLimitError of type budget_exceeded, not retried", async () => {
    const { id, key } = await createTenant(gw, { day: 3 });
    const poor = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key });
    await poor.completions.create({ model: "strong", prompt: "1+1=" }, { headers: { "x-allot-units": "3" } });
    let attempts = 0;
    const counting = new OpenAI({
      baseURL: `${gw.url}/v1`,
      apiKey: key,
      fetch: (url, init) => {
        attempts++;
        return fetch(url, init);
      },
    });
    const over = await counting.chat.completions.create({ model: "strong", messages: ask("1+1=") }, { headers: { "x-allot-units": "1" } }).catch((e) => e);
    expect(over).toBeInstanceOf(OpenAI.RateLimitError);
    expect(over.status).toBe(429);
    expect(over.type).toBe("budget_exceeded");
    expect(over.message).toContain(id);
    expect(attempts).toBe(1); // x-should-retry: false stops the SDK's automatic retries
    // A stream is refused the same way, before any chunk is sent.
    const streamed = await counting.chat.completions.create({ model: "strong", messages: ask("1+1="), stream: true }, { headers: { "x-allot-units": "1" } }).catch((e) => e);
    expect(streamed).toBeInstanceOf(OpenAI.RateLimitError);
    expect(attempts).toBe(2);
  });

  it("n: the n best of the samples drawn; tools: a call back with finish_reason tool_calls", async () => {
    const many = await client.chat.completions.create({ model: "strong", messages: ask("345+678="), n: 3, temperature: 0.8 });
    expect(many.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect((many as unknown as { allot: { samples: number } }).allot.samples).toBeGreaterThanOrEqual(3);
    const tools: OpenAI.Chat.ChatCompletionTool[] = [{ type: "function", function: { name: "check", parameters: { type: "object", properties: { answer: { type: "number" } } } } }];
    const called = await client.chat.completions.create({ model: "strong", messages: ask("12+34="), tools });
    expect(called.choices[0].finish_reason).toBe("tool_calls");
    expect(called.choices[0].message.tool_calls![0]).toMatchObject({ type: "function", function: { name: "check", arguments: '{"answer":46}' } });
  });

  it("the Responses API: create, stream, retrieve, chain by previous_response_id", async () => {
    const first = await client.responses.create({ model: "strong", input: "12+34=", instructions: "You are a calculator." });
    expect(first.object).toBe("response");
    expect(first.output_text).toBe("46");
    expect(first.usage!.output_tokens).toBeGreaterThan(0);
    const stream = client.responses.stream({ model: "strong", input: "345+678=" });
    const streamed = await stream.finalResponse();
    expect(streamed.status).toBe("completed");
    expect(streamed.output_text).toMatch(/^\d+$/);
    expect((await client.responses.retrieve(first.id)).output_text).toBe("46");
    const next = await client.responses.create({ model: "strong", input: "1+1=", previous_response_id: first.id });
    expect(next.output_text).toBe("2");
    const gone = await client.responses.retrieve("resp_000000000000000000000000").catch((e) => e);
    expect(gone).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("models.retrieve, and embeddings in base64 (the SDK's default, decoded as float32)", async () => {
    expect((await client.models.retrieve("strong")).id).toBe("strong");
    expect(await client.models.retrieve("Qwen/Qwen3-8B").catch((e) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    const e = await client.embeddings.create({ model: "strong", input: ["1+1=", "2+2="] });
    expect(e.data).toHaveLength(2);
    expect(e.data[0].embedding.length).toBeGreaterThan(0);
    expect(Math.hypot(...e.data[0].embedding)).toBeCloseTo(1, 4);
  });

  it("the Files and Batch API: upload a JSONL file, create a batch, poll it, read its output file", async () => {
    const lines = [
      { custom_id: "easy", method: "POST", url: "/v1/chat/completions", body: { model: "strong", messages: ask("12+34="), max_tokens: 12 } },
      { custom_id: "hard", method: "POST", url: "/v1/chat/completions", body: { model: "strong", messages: ask("345+678="), max_tokens: 12 } },
    ];
    const file = await client.files.create({ file: await toFile(Buffer.from(lines.map((l) => JSON.stringify(l)).join("\n") + "\n"), "in.jsonl"), purpose: "batch" });
    expect(file).toMatchObject({ object: "file", purpose: "batch", status: "processed" });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h", metadata: { run: "test" } });
    expect(batch).toMatchObject({ object: "batch", input_file_id: file.id, metadata: { run: "test" } });
    let done = batch;
    for (let i = 0; i < 120 && !["completed", "failed", "cancelled", "expired"].includes(done.status); i++) {
      await new Promise((r) => setTimeout(r, 500));
      done = await client.batches.retrieve(batch.id);
    }
    expect(done.status).toBe("completed");
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    const out = (await (await client.files.content(done.output_file_id!)).text()).trim().split("\n").map((l) => JSON.parse(l));
    const easy = out.find((l) => l.custom_id === "easy");
    expect(easy.response.status_code).toBe(200);
    expect(easy.response.body.choices[0].message.content).toBe("46");
    const page = await client.batches.list({ limit: 10 });
    expect(page.data.find((b) => b.id === batch.id)?.status).toBe("completed");
  });
});

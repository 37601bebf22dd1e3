// The official `openai` npm package, unchanged, pointed at the running gateway
// (`allot serve-gateway`: workerd as `wrangler dev` runs it, on loopback) in front of the real reference LM: base URL +
// API key is all a user changes.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningGateway, createTenant, startGateway } from "../../src/node/harness/gateway.js";
import { type RunningServer, startLmServer } from "../../src/node/harness/lm-server.js";

let lm: RunningServer;
let gw: RunningGateway;
let client: OpenAI;

beforeAll(async () => {
  lm = await startLmServer();
  gw = await startGateway(lm.url);
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
    const bad = await client.chat.completions.create({ model: "strong", messages: ask("1+1="), n: 2 }).catch((e) => e);
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
});

// The OpenAI clients people use, unchanged, pointed at the running gateway (`allot
// serve-gateway`: workerd as `wrangler dev` runs it, on loopback) in front of the real
// reference LM: the AI SDK (ai + @ai-sdk/openai, Responses by default and chat),
// LangChain (@langchain/openai), and the Agents SDK (@openai/agents), each with plain and
// streamed calls and tools; nothing leaves loopback (the Agents SDK's tracing is off).
// The reference LM answers a tool request by calling the tool with its answer (its first
// parameter) and answers in text after the tool's result (src/node/reference-lm/tools.ts).
import { createOpenAI } from "@ai-sdk/openai";
import { HumanMessage } from "@langchain/core/messages";
import { tool as lcTool } from "@langchain/core/tools";
import { ChatOpenAI, OpenAIEmbeddings } from "@langchain/openai";
import { Agent, OpenAIProvider, Runner, tool as agentTool, setTracingDisabled } from "@openai/agents";
import { embedMany, generateText, stepCountIs, streamText, tool } from "ai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { type RunningGateway, createTenant, startGateway } from "../../src/node/harness/gateway.js";
import { type RunningServer, startLmServer } from "../../src/node/harness/lm-server.js";

let lm: RunningServer;
let gw: RunningGateway;
let baseURL: string;
let apiKey: string;

beforeAll(async () => {
  setTracingDisabled(true);
  lm = await startLmServer();
  // The reference LM serves /v1/embeddings too: it stands for the embedding server.
  gw = await startGateway(lm.url, { vars: { EMBEDDINGS_URL: lm.url } });
  apiKey = (await createTenant(gw)).key;
  baseURL = `${gw.url}/v1`;
});
afterAll(async () => {
  await gw?.stop();
  await lm?.stop();
});

/** The tool every client offers: the reference LM calls it with its answer. */
const checked: string[] = [];
const check = async ({ answer }: { answer: string }) => {
  checked.push(answer);
  return `checked: ${answer}`;
};

describe("the AI SDK (ai + @ai-sdk/openai)", () => {
  const openai = () => createOpenAI({ baseURL, apiKey });
  const tools = { check: tool({ description: "Check an answer", inputSchema: z.object({ answer: z.string() }), execute: check }) };

  it("generateText and streamText through the Responses API (the default provider) and chat", async () => {
    expect((await generateText({ model: openai()("strong"), prompt: "12+34=" })).text).toBe("46");
    expect((await generateText({ model: openai().chat("strong"), prompt: "12+34=" })).text).toBe("46");
    for (const model of [openai()("strong"), openai().chat("strong")]) {
      const r = streamText({ model, prompt: "12+34=", temperature: 0 });
      let text = "";
      for await (const piece of r.textStream) text += piece;
      expect(text).toBe("46");
      expect(await r.finishReason).toBe("stop");
    }
  });

  it("runs a tool loop (the call, the tool, the answer) through Responses and chat", async () => {
    for (const model of [openai()("strong"), openai().chat("strong")]) {
      const r = await generateText({ model, prompt: "12+34=", tools, stopWhen: stepCountIs(3) });
      expect(r.steps).toHaveLength(2);
      expect(r.steps[0].finishReason).toBe("tool-calls");
      expect(r.steps[0].toolCalls[0].input).toEqual({ answer: "46" });
      expect(r.text).toBe("46");
    }
  });

  it("continues a conversation whose earlier answer it sends as an item_reference (stored responses)", async () => {
    const first = await generateText({ model: openai()("strong"), prompt: "12+34=" });
    const next = await generateText({ model: openai()("strong"), messages: [{ role: "user", content: "12+34=" }, ...first.response.messages, { role: "user", content: "1+1=" }] });
    expect(next.text).toBe("2");
  });

  it("embeds (floats)", async () => {
    const { embeddings } = await embedMany({ model: openai().embedding("strong"), values: ["1+1=", "2+2="] });
    expect(embeddings).toHaveLength(2);
    expect(Math.hypot(...embeddings[0])).toBeCloseTo(1, 4);
  });
});

describe("LangChain (@langchain/openai)", () => {
  const chat = (extra: object = {}) => new ChatOpenAI({ model: "strong", apiKey, configuration: { baseURL }, ...extra });
  const checkTool = lcTool(check, { name: "check", description: "Check an answer", schema: z.object({ answer: z.string() }) });

  it("invokes and streams, over chat and over the Responses API", async () => {
    expect((await chat().invoke([new HumanMessage("12+34=")])).content).toBe("46");
    let text = "";
    for await (const chunk of await chat({ temperature: 0 }).stream("12+34=")) text += chunk.content;
    expect(text).toBe("46");
    const viaResponses = await chat({ useResponsesApi: true }).invoke("12+34=");
    expect(viaResponses.text).toBe("46");
  });

  it("binds a tool and completes the round trip (chat and Responses)", async () => {
    for (const llm of [chat().bindTools([checkTool]), chat({ useResponsesApi: true }).bindTools([checkTool])]) {
      const asked = new HumanMessage("12+34=");
      const ai = await llm.invoke([asked]);
      expect(ai.tool_calls).toHaveLength(1);
      expect(ai.tool_calls![0]).toMatchObject({ name: "check", args: { answer: "46" } });
      const result = await checkTool.invoke(ai.tool_calls![0]);
      const answer = await llm.invoke([asked, ai, result]);
      expect(answer.text).toBe("46");
    }
  });

  it("embeds (base64, its default, decoded as float32)", async () => {
    const vectors = await new OpenAIEmbeddings({ model: "strong", apiKey, configuration: { baseURL } }).embedDocuments(["1+1=", "2+2="]);
    expect(vectors).toHaveLength(2);
    expect(vectors[0].length).toBeGreaterThan(0);
    expect(Math.hypot(...vectors[0])).toBeCloseTo(1, 4);
  });
});

describe("the Agents SDK (@openai/agents)", () => {
  const agent = () =>
    new Agent({
      name: "calculator",
      instructions: "You are a calculator.",
      model: "strong",
      tools: [agentTool({ name: "check", description: "Check an answer", parameters: z.object({ answer: z.string() }), execute: check })],
    });
  const runner = () => new Runner({ modelProvider: new OpenAIProvider({ baseURL, apiKey }) });

  it("runs an agent with a tool: the call, the tool's result, the answer (Responses API)", async () => {
    const before = checked.length;
    const result = await runner().run(agent(), "12+34=");
    expect(result.finalOutput).toBe("46");
    expect(checked.slice(before)).toEqual(["46"]);
  });

  it("streams a run, and continues from the last response by previous_response_id", async () => {
    const streamed = await runner().run(agent(), "345+678=", { stream: true });
    for await (const _event of streamed);
    await streamed.completed;
    expect(streamed.finalOutput).toMatch(/^\d+$/);
    const first = await runner().run(new Agent({ name: "plain", instructions: "You are a calculator.", model: "strong" }), "12+34=");
    const next = await runner().run(new Agent({ name: "plain", model: "strong" }), "1+1=", { previousResponseId: first.lastResponseId });
    expect(next.finalOutput).toBe("2");
  });
});

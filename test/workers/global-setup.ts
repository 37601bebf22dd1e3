// Runs in Node before the workers tests: starts the real reference LM server, so the
// Worker under test talks to it over HTTP exactly as it would to vLLM, and stand-ins for
// the real servers that cannot run here (test/doubles/, following their source), which
// tests point the gateway's settings at.
import type { TestProject } from "vitest/node";
import { startLmServer } from "../../src/node/harness/lm-server.js";
import { startFaultProxy } from "./fault-proxy.js";
import { startSglangDouble } from "../doubles/sglang.js";
import { startVllmDouble } from "../doubles/vllm.js";
import { DEFAULT_MODELS_DIR, loadModels } from "../../src/node/reference-lm/registry.js";

/** The doubles the workers tests may use, by role. */
export interface Doubles {
  /** SGLang before PR #30177, radix cache on: concurrent hidden-state requests get others' rows. */
  sglang: string;
  /** The same, started with --disable-radix-cache: a dedicated hidden-state server that is right. */
  sglangNoCache: string;
  /** SGLang with PR #30177 (return_hidden_states "last"). */
  sglangLast: string;
  /** SGLang with EAGLE3 speculative decoding (3 × d states). */
  sglangEagle: string;
  /** SGLang serving the verifier as a reward model (native /classify, /v1/classify). */
  sglangReward: string;
  /** vLLM 0.22 (one pooling task per server): a generate instance of "strong". */
  vllmGenerate: string;
  /** vLLM 0.15 (every route registered): a generate instance of "strong". */
  vllmGenerate015: string;
  /** vLLM 0.22: a pooling instance of "strong" (embed, raw: use_activation false). */
  vllmPool: string;
  /** vLLM 0.10.0 and 0.11.0 pooling instances of "strong" (encode: per-token rows). */
  vllmPool010: string;
  vllmPool011: string;
  /** vLLM 0.22 pooling "strong" started with --pooler-config.task token_embed: embed is not its task. */
  vllmPoolTokenEmbed: string;
  /** vLLM 0.22 reward models: the one-label verifier ("verifier"), a two-label classifier ("rm-2"), a process reward model ("prm"). */
  vllmVerifier: string;
  vllmTwoLabel: string;
  vllmPrm: string;
  /** vLLM 0.18 (several tasks per server): the two-label classifier. */
  vllmTwoLabel018: string;
  /** vLLM 0.22 generating the thinking reference LM, with --reasoning-parser: keeps thinking_token_budget. */
  vllmThinking: string;
  /** The same without --reasoning-parser: accepts thinking_token_budget and ignores it. */
  vllmThinkingNoParser: string;
  /** vLLM 0.18 with a reasoning parser: before thinking_token_budget, an unknown field it ignores. */
  vllmThinking018: string;
  /** SGLang generating the thinking reference LM: with --enable-custom-logit-processor, without (refused), and an older release without (dropped). */
  sglangThinking: string;
  sglangThinkingNoFlag: string;
  sglangThinkingDrops: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    lmUrl: string;
    doubles: Doubles;
  }
}

export default async function setup(project: TestProject) {
  const server = await startLmServer();
  // The Worker talks to the LM through a proxy that injects faults only when asked to
  // (see fault-proxy.ts); every other request reaches the real server unchanged.
  const proxy = await startFaultProxy(server.url);
  project.provide("lmUrl", proxy.url);
  const [strong, thinking] = await loadModels(DEFAULT_MODELS_DIR, ["strong", "thinking"]);
  const started = {
    sglang: await startSglangDouble({ lm: strong, name: "strong" }),
    sglangNoCache: await startSglangDouble({ lm: strong, name: "strong", disableRadixCache: true }),
    sglangLast: await startSglangDouble({ lm: strong, name: "strong", fixes: "last" }),
    sglangEagle: await startSglangDouble({ lm: strong, name: "strong", fixes: "all", eagle3: true }),
    sglangReward: await startSglangDouble({ lm: null, reward: "verifier", name: "verifier" }),
    vllmGenerate: await startVllmDouble({ version: "0.22.0", runner: "generate", name: "strong", weights: strong }),
    vllmGenerate015: await startVllmDouble({ version: "0.15.1", runner: "generate", name: "strong", weights: strong }),
    vllmPool: await startVllmDouble({ version: "0.22.0", runner: "pooling", name: "strong", weights: strong, poolerUseActivation: false }),
    vllmPool010: await startVllmDouble({ version: "0.10.0", runner: "pooling", name: "strong", weights: strong }),
    vllmPool011: await startVllmDouble({ version: "0.11.0", runner: "pooling", name: "strong", weights: strong }),
    vllmPoolTokenEmbed: await startVllmDouble({ version: "0.22.0", runner: "pooling", name: "strong", weights: strong, poolerTask: "token_embed" }),
    vllmVerifier: await startVllmDouble({ version: "0.22.0", runner: "pooling", name: "verifier", weights: "verifier" }),
    vllmTwoLabel: await startVllmDouble({ version: "0.22.0", runner: "pooling", name: "rm-2", weights: "classifier-2" }),
    vllmPrm: await startVllmDouble({ version: "0.22.0", runner: "pooling", name: "prm", weights: "prm" }),
    vllmTwoLabel018: await startVllmDouble({ version: "0.18.0", runner: "pooling", name: "rm-2", weights: "classifier-2" }),
    vllmThinking: await startVllmDouble({ version: "0.22.0", runner: "generate", name: "thinking", weights: thinking, reasoningParser: "qwen3" }),
    vllmThinkingNoParser: await startVllmDouble({ version: "0.22.0", runner: "generate", name: "thinking", weights: thinking }),
    vllmThinking018: await startVllmDouble({ version: "0.18.0", runner: "generate", name: "thinking", weights: thinking, reasoningParser: "qwen3" }),
    sglangThinking: await startSglangDouble({ lm: thinking, name: "thinking", fixes: "all", enableCustomLogitProcessor: true }),
    sglangThinkingNoFlag: await startSglangDouble({ lm: thinking, name: "thinking", fixes: "all" }),
    sglangThinkingDrops: await startSglangDouble({ lm: thinking, name: "thinking", fixes: "all", dropsProcessor: true }),
  };
  project.provide("doubles", Object.fromEntries(Object.entries(started).map(([k, d]) => [k, d.url])) as unknown as Doubles);
  return async () => {
    await Promise.all(Object.values(started).map((d) => d.close()));
    await proxy.close();
    await server.stop();
  };
}

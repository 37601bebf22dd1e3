// Runs in Node before the workers tests: starts the real reference LM server, so the
// Worker under test talks to it over HTTP exactly as it would to vLLM.
import type { TestProject } from "vitest/node";
import { startLmServer } from "../../src/node/harness/lm-server.js";
import { startFaultProxy } from "./fault-proxy.js";
import { startSglangDouble } from "../doubles/sglang.js";
import { DEFAULT_MODELS_DIR, loadModels } from "../../src/node/reference-lm/registry.js";

declare module "vitest" {
  export interface ProvidedContext {
    lmUrl: string;
    sglangUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const server = await startLmServer();
  // The Worker talks to the LM through a proxy that injects faults only when asked to
  // (see fault-proxy.ts); every other request reaches the real server unchanged.
  const proxy = await startFaultProxy(server.url);
  project.provide("lmUrl", proxy.url);
  // An SGLang server that scrambles hidden-state rows across a batch, as SGLang did before
  // PR #30177: what the sglang-generate backend must survive.
  const [strong] = await loadModels(DEFAULT_MODELS_DIR, ["strong"]);
  const sglang = await startSglangDouble({ lm: strong, name: "strong", batchedRowsBug: true });
  project.provide("sglangUrl", sglang.url);
  return async () => {
    await sglang.close();
    await proxy.close();
    await server.stop();
  };
}

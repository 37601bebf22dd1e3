// Runs in Node before the workers tests: starts the real reference LM server, so the
// Worker under test talks to it over HTTP exactly as it would to vLLM.
import type { TestProject } from "vitest/node";
import { startLmServer } from "../node/support/lm-server.js";
import { startFaultProxy } from "./fault-proxy.js";

declare module "vitest" {
  export interface ProvidedContext {
    lmUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const server = await startLmServer();
  // The Worker talks to the LM through a proxy that injects faults only when asked to
  // (see fault-proxy.ts); every other request reaches the real server unchanged.
  const proxy = await startFaultProxy(server.url);
  project.provide("lmUrl", proxy.url);
  return async () => {
    await proxy.close();
    await server.stop();
  };
}

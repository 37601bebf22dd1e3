// Runs in Node before the workers tests: starts the real reference LM server, so the
// Worker under test talks to it over HTTP exactly as it would to vLLM.
import type { TestProject } from "vitest/node";
import { startLmServer } from "../node/support/lm-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    lmUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const server = await startLmServer();
  project.provide("lmUrl", server.url);
  return () => server.stop();
}

import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Two projects: code that runs at the edge is tested inside workerd with real bindings;
// the Node side (the CLI, the reference LM server) is tested as real processes.
// Time limits are hang guards, not performance checks: on a loaded 2-core machine a
// Worker's cold start takes ~5 s and collecting the pipeline tests' data ~20 s.
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            main: "./src/worker/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            // The reference LM started by global-setup.ts, over real HTTP.
            // LM_TIMEOUT_MS: an injected "no answer" fault costs 2 s per attempt, not 30.
            // PREDICTOR_CACHE_SECONDS 0: each request lists the (per-test) R2 bucket afresh.
            // The fault proxy's model names (fault-<kind>x<count>:<model>) may be named without a predictor.
            // Online reservations live 6 s (renewed every 2 s while a request works) and a request whose
            // minimum is held by others waits 300 ms for it, so tests of leases take seconds.
            // Batches retry a failing prompt after 20 ms (then 40), 3 attempts, not minutes, and
            // predict 5 prompts per alarm, so every batch test crosses pages; a batch of more
            // than 10 prompts draws through shards (watched every 200 ms).
            // No audits unless a test turns them on (AUDIT_RATE 0): an audit's samples are drawn in the
            // background at random, which tests that count what reaches the LM must not see.
            // The reference LM serves every role (completions, hidden states, its verifiers), each set explicitly.
            miniflare: { bindings: { ADMIN_TOKEN: "test-admin-token", API_KEY_SECRET: "test-api-key-secret", LM_URL: inject("lmUrl"), HIDDEN_STATES_URL: inject("lmUrl"), REWARD_URL: inject("lmUrl"), REWARD_MODEL: "verifier-binary", LM_TIMEOUT_MS: "2000", PREDICTOR_CACHE_SECONDS: "0", BATCH_RETRY_BASE_MS: "20", BATCH_PROMPT_ATTEMPTS: "3", BATCH_PREDICT_PAGE: "5", BATCH_SHARD_PROMPTS: "10", BATCH_WATCHDOG_MS: "200", ONLINE_LEASE_SECONDS: "6", ONLINE_WAIT_MS: "300", LM_MODELS: "fault-*", AUDIT_RATE: "0" } },
          })),
        ],
        test: {
          name: "workers",
          include: ["test/workers/**/*.test.ts"],
          globalSetup: ["test/workers/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: { name: "node", include: ["test/node/**/*.test.ts"], environment: "node", testTimeout: 120_000, hookTimeout: 180_000 },
      },
    ],
  },
});

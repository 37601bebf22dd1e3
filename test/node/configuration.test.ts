// The settings table (src/core/config/settings.ts): one policy for every value, and the
// docs generated from it.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { configurationDoc } from "../../src/core/config/docs.js";
import { SETTINGS, parseSettings } from "../../src/core/config/settings.js";
import { Misconfigured } from "../../src/core/errors.js";

/** The Misconfigured parseSettings throws for `vars`. */
function refusal(vars: Record<string, unknown>): Misconfigured {
  try {
    parseSettings(vars);
  } catch (e) {
    expect(e).toBeInstanceOf(Misconfigured);
    return e as Misconfigured;
  }
  throw new Error(`${JSON.stringify(vars)} was accepted`);
}

describe("parseSettings", () => {
  it("fills in the defaults (the online lease is 30 s since requests renew it while they work)", () => {
    expect(parseSettings({})).toEqual({
      LM_MODEL: "strong",
      COMPLETIONS: "openai",
      LM_TIMEOUT_MS: 30_000,
      LM_ATTEMPTS: 5,
      LM_MAX_IN_FLIGHT: 96,
      HIDDEN_STATES: "vllm-pooling",
      // No REWARD_MODEL, REWARD_URL or HIDDEN_STATES_URL: no default stands in for a server (issue #23).
      REWARDS: "vllm-pooling",
      ONLINE_LEASE_SECONDS: 30,
      ONLINE_WAIT_MS: 2000,
      PREFILL_UNITS: 0.1,
      AUDIT_RATE: 0.05,
      LEDGER_REPORT_MS: 1000,
      SHARD_ROUTE_SECONDS: 10,
      BATCH_LEASE_SECONDS: 900,
      BATCH_RETRY_BASE_MS: 15_000,
      BATCH_PROMPT_ATTEMPTS: 8,
      BATCH_DEADLINE_SECONDS: 86_400,
      BATCH_RETENTION_SECONDS: 7 * 86_400,
      RESPONSES_RETENTION_SECONDS: 30 * 86_400,
      FILE_MAX_BYTES: 32 * 1024 * 1024,
      FILE_RETENTION_SECONDS: 30 * 86_400,
      BATCH_WATCHDOG_MS: 30_000,
      BATCH_SHARD_PROMPTS: 2000,
      PREDICTOR_CACHE_SECONDS: 30,
    });
  });

  it("reads each kind of value: integers (0 where it means something), URLs without trailing slashes, model=url lists, origins, protocols", () => {
    const s = parseSettings({
      REWARD_LABEL: "LABEL_1",
      BATCH_RETENTION_SECONDS: "3600",
      PREDICTOR_CACHE_SECONDS: "0",
      LM_TIMEOUT_MS: 2000, // wrangler.toml may write a number unquoted
      LM_URL: "https://vllm.example.internal/",
      LM_URLS: "weak=http://10.0.0.5:8000/, strong=http://10.0.0.6:8000",
      CORS_ORIGINS: "https://app.example, https://other.example:8443",
      HIDDEN_STATES: "sglang-generate",
      BATCH_PREDICT_PAGE: " 5 ",
      LM_MODEL: "",
    });
    expect(s).toMatchObject({ BATCH_RETENTION_SECONDS: 3600, PREDICTOR_CACHE_SECONDS: 0, LM_TIMEOUT_MS: 2000, LM_URL: "https://vllm.example.internal", HIDDEN_STATES: "sglang-generate", BATCH_PREDICT_PAGE: 5 });
    expect(s.LM_MODEL).toBe("strong"); // empty is unset
    expect(s.REWARD_LABEL).toEqual({ name: "LABEL_1" });
    expect(parseSettings({ REWARD_LABEL: "-1" }).REWARD_LABEL).toEqual({ index: -1 });
    expect([...s.LM_URLS!]).toEqual([["weak", "http://10.0.0.5:8000"], ["strong", "http://10.0.0.6:8000"]]);
    expect(s.CORS_ORIGINS).toEqual(["https://app.example", "https://other.example:8443"]);
  });

  it.each<[Record<string, string>, string]>([
    [{ BATCH_RETENTION_SECONDS: "-5" }, 'BATCH_RETENTION_SECONDS must be an integer ≥ 1 (seconds), got "-5"'],
    [{ BATCH_RETENTION_SECONDS: "0" }, "BATCH_RETENTION_SECONDS must be an integer ≥ 1"],
    [{ LM_TIMEOUT_MS: "soon" }, 'LM_TIMEOUT_MS must be an integer ≥ 1 (ms), got "soon"'],
    [{ LEDGER_REPORT_MS: "0.5" }, "LEDGER_REPORT_MS must be an integer ≥ 1 (ms)"],
    [{ SHARD_ROUTE_SECONDS: "-1" }, "SHARD_ROUTE_SECONDS must be an integer ≥ 0 (seconds)"],
    [{ LM_ATTEMPTS: "1e3" }, "LM_ATTEMPTS must be an integer ≥ 1"],
    [{ LM_URL: "vllm:8000" }, "LM_URL must be an http(s) URL"],
    [{ REWARD_URL: "::" }, "REWARD_URL must be an http(s) URL"],
    [{ HIDDEN_STATES_URL: "ftp://pool" }, "HIDDEN_STATES_URL must be an http(s) URL"],
    [{ LM_URLS: "weak" }, "LM_URLS must be model=url pairs"],
    [{ HIDDEN_STATES_URLS: "strong=nowhere" }, "HIDDEN_STATES_URLS must be model=url pairs"],
    [{ HIDDEN_STATES: "tgi" }, 'HIDDEN_STATES must be one of vllm-pooling, sglang-generate, sglang-generate-last, got "tgi"'],
    [{ REWARDS: "x" }, "REWARDS must be one of vllm-pooling, vllm-pooling-classify, vllm-pooling-token-classify, vllm-classify, sglang-classify"],
    [{ REWARD_LABEL: "good?" }, 'REWARD_LABEL must be a label index (0, 1, …; -1 is the last) or a label name'],
    [{ COMPLETIONS: "anthropic" }, "COMPLETIONS must be one of openai"],
    [{ CORS_ORIGINS: "https://app.example/path" }, 'CORS_ORIGINS must be "*" or origins'],
  ])("refuses %j, naming the setting and what it must be", (vars, message) => {
    const err = refusal(vars);
    expect(err.setting).toBe(Object.keys(vars)[0]);
    expect(err.message.startsWith(message)).toBe(true);
    expect(err.retryable).toBe(false);
  });

  it("names every setting that does not read, and never repeats an address", () => {
    const err = refusal({ LM_URL: "http//10.0.0.5", BATCH_WATCHDOG_MS: "fast", LM_URLS: "weak=10.0.0.6" });
    expect(err.setting).toBe("LM_URL");
    expect(err.message).toContain("LM_URL must be");
    expect(err.message).toContain("LM_URLS must be");
    expect(err.message).toContain('BATCH_WATCHDOG_MS must be an integer ≥ 1 (ms), got "fast"');
    expect(err.message).not.toContain("10.0.0");
  });

  it("describes every setting, and gives a default or says what unset means", () => {
    for (const [name, s] of Object.entries(SETTINGS)) {
      expect(s.description.length, name).toBeGreaterThan(10);
      expect(s.default !== undefined || s.unset !== undefined, name).toBe(true);
      if (s.default !== undefined) expect(() => parseSettings({ [name]: s.default }), name).not.toThrow();
    }
  });
});

describe("docs/configuration.md", () => {
  it("is what the settings table generates (if not: npm run docs:config)", () => {
    const committed = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
    expect(committed, "docs/configuration.md is stale: run `npm run docs:config` and commit it").toBe(configurationDoc());
  });
});

/**
 * A stand-in for an SGLang server (sglang.launch_server --enable-return-hidden-states),
 * for tests. Its native /generate follows SGLang's source and examples:
 * examples/runtime/hidden_states/hidden_states_server.py (a text or a list of texts,
 * sampling_params, return_hidden_states; one object for one text, a list for a list) and
 * test/srt/test_hidden_states.py (meta_info.hidden_states: the prefill's per-token rows,
 * then one vector per decode step). The numbers come from the reference LM's weights.
 *
 * `batchedRowsBug` injects, on purpose, the fault of SGLang before PR #30177
 * (issues #4997, #8066): in a batch where a prompt hits the prefix cache, hidden-state
 * rows go to the wrong prompts. Here any batch of several texts gets its rows rotated by
 * one, so a client that batches gets silently wrong vectors and one that sends a text
 * per call does not.
 */
import { Hono } from "hono";
import { listenOnLoopback } from "./listen.js";
import type { ReferenceLM } from "../../src/node/reference-lm/model.js";

export interface SglangDouble {
  readonly url: string;
  readonly requests: { path: string; body: any }[];
  close(): Promise<void>;
}

export async function startSglangDouble(o: { lm: ReferenceLM; name: string; batchedRowsBug?: boolean }): Promise<SglangDouble> {
  const requests: { path: string; body: any }[] = [];
  const app = new Hono();
  const { lm } = o;
  app.get("/health", (c) => c.body(null, 200));
  app.post("/generate", async (c) => {
    const json = await c.req.json();
    requests.push({ path: "/generate", body: json });
    const single = typeof json.text === "string";
    const texts: string[] = single ? [json.text] : json.text;
    const ids = texts.map((t) => {
      const r = lm.tokenizer.encode(t);
      if ("bad" in r) throw new Error(`cannot encode ${r.bad}`);
      return r.ids;
    });
    const sp = json.sampling_params ?? {};
    const samples = await lm.generate(ids, { n: 1, temperature: sp.temperature ?? 1, topP: sp.top_p ?? 1, maxTokens: sp.max_new_tokens ?? 128, stop: [], seed: 0 });
    let states = json.return_hidden_states ? await lm.tokenStates(ids) : null;
    if (states && o.batchedRowsBug && states.length > 1) states = [...states.slice(1), states[0]];
    const d = lm.manifest.hidden_size;
    const out = samples.map(([s], i) => ({
      text: s.text,
      meta_info: {
        id: crypto.randomUUID().replaceAll("-", ""),
        finish_reason: { type: s.finishReason, ...(s.finishReason === "length" ? { length: sp.max_new_tokens } : {}) },
        prompt_tokens: ids[i].length,
        completion_tokens: s.tokens,
        cached_tokens: 0,
        e2e_latency: 0.01,
        ...(states ? { hidden_states: [Array.from({ length: states[i].length / d }, (_, t) => Array.from(states![i].subarray(t * d, (t + 1) * d)))] } : {}),
      },
    }));
    return c.json(single ? out[0] : out);
  });
  app.notFound((c) => c.json({ detail: "Not Found" }, 404));
  return { ...(await listenOnLoopback(app)), requests };
}

/**
 * npm run bench:lm — reference LM throughput over HTTP (the real server, as a separate
 * process): samples/s and completion tokens/s for n = 1, 8, 32, on one prompt and on a
 * batch of 64 prompts from mixed cells, at temperature 0.8. Prints a markdown table.
 */
import { promptSet } from "../src/node/reference-lm/task.js";
import { postJson, startLmServer } from "../src/node/harness/lm-server.js";

const server = await startLmServer();
const batch = promptSet("test", 64, 11).map((r) => r.prompt);
const rows: string[] = [];
try {
  for (const model of ["strong", "weak"]) {
    for (const [label, prompt] of [["1 prompt", "4821+7733="], ["64 prompts", batch]] as const) {
      for (const n of [1, 8, 32]) {
        const body = { model, prompt, n, temperature: 0.8, max_tokens: 12, seed: 1 };
        await postJson(`${server.url}/v1/completions`, body); // warm-up
        let samples = 0;
        let tokens = 0;
        let requests = 0;
        const t0 = performance.now();
        while (performance.now() - t0 < 2000 || requests < 3) {
          const { status, json } = await postJson(`${server.url}/v1/completions`, { ...body, seed: requests });
          if (status !== 200) throw new Error(JSON.stringify(json));
          samples += json.choices.length;
          tokens += json.usage.completion_tokens;
          requests++;
        }
        const s = (performance.now() - t0) / 1000;
        rows.push(
          `| ${model} | ${label} | ${n} | ${((s / requests) * 1000).toFixed(1)} | ${(samples / s).toFixed(0)} | ${(tokens / s).toFixed(0)} |`,
        );
      }
    }
  }
} finally {
  await server.stop();
}
console.log("reference LM over HTTP, temperature 0.8, max_tokens 12, one request at a time\n");
console.log("| model | prompts | n | ms / request | samples / s | tokens / s |");
console.log("|---|---|---|---|---|---|");
console.log(rows.join("\n"));

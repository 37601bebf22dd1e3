/**
 * The worst a single POST /v1/allocate body can cost, at the gateway's bounds (10,000
 * queries, 10^6 units per query, a 16 MiB body): the whole request as the Worker runs it
 * (validation with the route's zod schema, then the solver), timed in Node. Each figure
 * is the median of --runs runs.
 *
 *   npm run bench:abuse [-- --runs 5]
 */
import { allocate } from "../src/core/allocation/build.js";
import { AllocateRequestSchema } from "../src/core/contracts/allocate.js";
import { mulberry32 } from "../src/core/allocation/select.js";
import { arg } from "./args.js";

const runs = Number(arg("runs", "5"));
const rand = mulberry32(7);

const cases: [string, () => unknown][] = [
  ["the issue's body: 100 p queries, max 10^6, budget 5·10^7", () => ({ budget: 50_000_000, max: 1_000_000, queries: Array.from({ length: 100 }, (_, i) => ({ id: `q${i}`, p: rand() })) })],
  ["10,000 p queries, max 10^6, budget 10^10", () => ({ budget: 1e10, max: 1_000_000, queries: Array.from({ length: 10_000 }, (_, i) => ({ id: `q${i}`, p: rand() })) })],
  ["10,000 p queries near 0 and 1, max 10^6", () => ({ budget: 1e9, max: 1_000_000, queries: Array.from({ length: 10_000 }, (_, i) => ({ id: `q${i}`, p: i % 2 ? 1e-12 : 1 - 1e-12 })) })],
  ["10,000 marginals queries, 75 gains each (near the 16 MiB body limit)", () => ({ budget: 300_000, queries: Array.from({ length: 10_000 }, (_, i) => ({ id: `q${i}`, marginals: Array.from({ length: 75 }, (_, j) => rand() / (j + 1)) })) })],
  ["10,000 increasing curves (all projected), 75 gains each", () => ({ budget: 300_000, queries: Array.from({ length: 10_000 }, (_, i) => ({ id: `q${i}`, marginals: Array.from({ length: 75 }, (_, j) => j * rand()) })) })],
];

console.log("| body | JSON MiB | validate + solve ms (median) |");
console.log("|---|---|---|");
for (const [name, make] of cases) {
  const text = JSON.stringify(make());
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    allocate(AllocateRequestSchema.parse(JSON.parse(text)));
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`| ${name} | ${(text.length / 1024 / 1024).toFixed(1)} | ${times[Math.floor(runs / 2)].toFixed(0)} |`);
}

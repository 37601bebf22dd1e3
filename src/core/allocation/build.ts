import type { AllocateRequest, AllocateResponse } from "../contracts/allocate.js";
import { solveBatch } from "./batch.js";
import { AllocationError } from "./errors.js";
import type { BatchProblem } from "./problem.js";

/**
 * Turns a validated allocate request into the solver's compact form, checking what a
 * schema cannot: unique ids, min ≤ max per query, and a max for every Bernoulli query.
 *
 * A query's max is its own, else the request's, else (explicit curves) its curve's length.
 * The request's max caps a shorter curve at the curve's length (no gain is known beyond
 * it); a query's own max longer than its own curve is an error.
 */
export function buildBatch(req: AllocateRequest): BatchProblem {
  const n = req.queries.length;
  const min = new Int32Array(n);
  const max = new Int32Array(n);
  const p = new Float64Array(n);
  const offsets = new Int32Array(n + 1);
  const seen = new Set<string>();
  req.queries.forEach((q, i) => {
    if (seen.has(q.id)) throw new AllocationError({ message: `duplicate id "${q.id}"`, param: `queries[${i}].id` });
    seen.add(q.id);
    const lo = q.min ?? req.min;
    let hi: number;
    if (q.prompt !== undefined || q.hidden !== undefined) {
      // Resolved to p or marginals by the gateway before it gets here.
      throw new AllocationError({ message: "prompt and hidden queries need a predictor: use the gateway's POST /v1/allocate", param: `queries[${i}]` });
    }
    if (q.marginals) {
      const len = q.marginals.length;
      if (q.max !== undefined && q.max > len) {
        throw new AllocationError({ message: `max ${q.max} exceeds the ${len} marginals given`, param: `queries[${i}].max` });
      }
      hi = Math.min(q.max ?? req.max ?? len, len);
      p[i] = NaN;
    } else {
      const own = q.max ?? req.max;
      if (own === undefined) {
        throw new AllocationError({ message: "max is required when a query gives p (set it on the request or the query)", param: `queries[${i}].max` });
      }
      hi = own;
      p[i] = q.p!;
    }
    if (lo > hi) {
      // Name the field the user can change for this query.
      const field =
        q.min !== undefined ? `queries[${i}].min` : q.max !== undefined ? `queries[${i}].max` : q.marginals ? `queries[${i}].marginals` : "min";
      throw new AllocationError({ message: `min ${lo} exceeds max ${hi}`, param: field });
    }
    min[i] = lo;
    max[i] = hi;
    offsets[i + 1] = offsets[i] + (q.marginals ? hi : 0);
  });
  const gains = new Float64Array(offsets[n]);
  req.queries.forEach((q, i) => {
    if (q.marginals) for (let j = 0; j < max[i]; j++) gains[offsets[i] + j] = q.marginals[j];
  });
  return { n, min, max, p, offsets, gains };
}

/** The whole `allocate` contract: request in, response out. Throws AllocationError. */
export function allocate(req: AllocateRequest): AllocateResponse {
  const solution = solveBatch(buildBatch(req), req.budget);
  return {
    allocation: req.queries.map((q, i) => ({ id: q.id, units: solution.units[i] })),
    objective: solution.objective,
    used: solution.used,
    price: solution.price,
    projected: solution.projected.map((i) => req.queries[i].id),
  };
}

/**
 * Draws one token from logits[offset .. offset+vocab) with temperature and nucleus
 * (top-p) sampling. temperature 0 is greedy. `rand` gives uniforms in [0, 1).
 *
 * @example sampleToken(new Float32Array([0, 5, 0]), 0, 3, 0, 1, Math.random) // 1
 */
export function sampleToken(
  logits: Float32Array,
  offset: number,
  vocab: number,
  temperature: number,
  topP: number,
  rand: () => number,
): number {
  let best = 0;
  for (let v = 1; v < vocab; v++) if (logits[offset + v] > logits[offset + best]) best = v;
  if (temperature === 0) return best;
  const maxLogit = logits[offset + best];
  const probs = new Float64Array(vocab);
  let total = 0;
  for (let v = 0; v < vocab; v++) {
    probs[v] = Math.exp((logits[offset + v] - maxLogit) / temperature);
    total += probs[v];
  }
  let order: number[] | null = null;
  if (topP < 1) {
    // Keep the smallest set of most likely tokens whose mass reaches top_p.
    order = Array.from({ length: vocab }, (_, v) => v).sort((a, b) => probs[b] - probs[a] || a - b);
    let kept = 0;
    let mass = 0;
    while (kept < vocab && mass < topP * total) mass += probs[order[kept++]];
    order = order.slice(0, kept);
    total = mass;
  }
  let u = rand() * total;
  const kept = order ? order.length : vocab;
  for (let k = 0; k < kept; k++) {
    const v = order ? order[k] : k;
    u -= probs[v];
    if (u < 0) return v;
  }
  return order ? order[kept - 1] : vocab - 1; // rounding left u ≥ 0: the last candidate
}

/** A per-row generator seeded from (seed, prompt index, sample index), so a request's
 * samples do not depend on how its prompts were grouped into batches. */
export function rowSeed(seed: number, prompt: number, sample: number): number {
  let h = seed >>> 0;
  for (const x of [prompt, sample]) {
    h = Math.imul(h ^ x, 0x9e3779b1) >>> 0;
    h ^= h >>> 16;
  }
  return h;
}

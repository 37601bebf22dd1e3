/**
 * A router's data: the same prompts collected from every model on its menu (one
 * `allot collect` dataset per model), joined by prompt id. The router reads the hidden
 * states of one of them (the input model), and learns every model's success.
 */
import { type DataRecord, RecordSchema } from "../../core/predictor/dataset.js";
import { readJsonl } from "./jsonl.js";

export interface RoutedPrompt {
  readonly id: string;
  /** The input model's hidden state. */
  readonly hidden: number[];
  /** Per option (model), that model's K rewards for this prompt. */
  readonly rewards: number[][];
}

/** `weak=1,strong=3` → [["weak", "1"], ["strong", "3"]]. */
export function parsePairs(spec: string, flag: string): [string, string][] {
  return spec.split(",").map((part) => {
    const eq = part.indexOf("=");
    if (eq <= 0 || eq === part.length - 1) throw new Error(`--${flag}: expected model=value[,model=value…], got "${part}"`);
    return [part.slice(0, eq), part.slice(eq + 1)] as [string, string];
  });
}

/** `weak=a.jsonl,strong=b.jsonl` → [["weak", "a.jsonl"], ["strong", "b.jsonl"]], two models at least. */
export function parseModelFiles(spec: string, flag: string): [string, string][] {
  const pairs = parsePairs(spec, flag);
  if (pairs.length < 2) throw new Error(`--${flag}: a router needs at least two models`);
  return pairs;
}

/**
 * Joins the datasets (in the order of `models`) on prompt id; prompts missing from any
 * dataset are left out. Throws if the join is empty or an input is not binary.
 */
export async function readRouted(files: readonly [string, string][], inputModel: string): Promise<RoutedPrompt[]> {
  const inputIdx = files.findIndex(([m]) => m === inputModel);
  if (inputIdx < 0) throw new Error(`--input ${inputModel} is not one of the models (${files.map(([m]) => m).join(", ")})`);
  const sets: Map<string, DataRecord>[] = [];
  for (const [model, path] of files) {
    const records = await readJsonl(path, RecordSchema);
    if (!records.every((r) => r.rewards.every((x) => x === 0 || x === 1))) throw new Error(`${path} (${model}): a router is trained on binary (verifier) rewards`);
    sets.push(new Map(records.map((r) => [r.id, r])));
  }
  const out: RoutedPrompt[] = [];
  for (const [id, rec] of sets[inputIdx]) {
    const all = sets.map((s) => s.get(id));
    if (all.some((r) => r === undefined || r.prompt !== rec.prompt)) continue;
    out.push({ id, hidden: rec.hidden, rewards: all.map((r) => r!.rewards) });
  }
  if (out.length === 0) throw new Error("the datasets share no prompt ids");
  return out;
}

export const successes = (rewards: readonly number[]): number => rewards.reduce((a, b) => a + b, 0);

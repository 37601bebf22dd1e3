/**
 * How clients' feedback agrees with the verifier on audited prompts (docs/audits.md#feedback).
 * A client rates the answer it got: the sample allot selected, so its reward is no label of
 * the prompt; but on an audited prompt the verifier scored that very answer (the audit's
 * `reward`) and every sample of the prompt (its pass rate), so the two can be compared on
 * the same answers. Pure.
 */

/** One rated answer of an audited prompt: the client's reward, the verifier's of the same answer, and the prompt's pass rate over its audit set. */
export interface RatedAudit {
  readonly feedback: number;
  readonly reward: number;
  readonly passRate: number;
}

export interface Agreement {
  /** Audited prompts whose answer the client rated. */
  readonly count: number;
  readonly mean_feedback: number | null;
  /** The verifier's mean reward of the same answers (the selected samples: biased up against the prompts' pass rates). */
  readonly mean_reward: number | null;
  /** The prompts' mean pass rate over every sample the audits drew: what a random sample scores. */
  readonly mean_pass_rate: number | null;
  /** Share of them on which the client and the verifier fall on the same side of 0.5 (pass or fail alike). */
  readonly agreement: number | null;
}

/** Both on the same side of one half: a pass for one is a pass for the other. */
const PASS = 0.5;

/**
 * @example agreementOf([{ feedback: 1, reward: 1, passRate: 0.5 }, { feedback: 0, reward: 1, passRate: 0.25 }])
 * // { count: 2, mean_feedback: 0.5, mean_reward: 1, mean_pass_rate: 0.375, agreement: 0.5 }
 */
export function agreementOf(rated: readonly RatedAudit[]): Agreement {
  const n = rated.length;
  if (n === 0) return { count: 0, mean_feedback: null, mean_reward: null, mean_pass_rate: null, agreement: null };
  const mean = (f: (r: RatedAudit) => number) => rated.reduce((s, r) => s + f(r), 0) / n;
  return {
    count: n,
    mean_feedback: mean((r) => r.feedback),
    mean_reward: mean((r) => r.reward),
    mean_pass_rate: mean((r) => r.passRate),
    agreement: mean((r) => ((r.feedback >= PASS) === (r.reward >= PASS) ? 1 : 0)),
  };
}

/** A prompt's pass rate over its audit set: rewards clamped to [0, 1] and averaged (for pass/fail rewards, the share passed). */
export const passRate = (rewards: readonly number[]): number => (rewards.length === 0 ? 0 : rewards.reduce((s, r) => s + Math.min(1, Math.max(0, r)), 0) / rewards.length);

/**
 * When a tenant's audits refit its predictor (core/audit/calibration.ts refit), and when its
 * calibration has drifted. Pure: the ledger (worker/tenants/refits.ts) stores what this decides.
 *
 * - A refit needs MIN_AUDITS audits of the predictor (fewer, and the temperature is mostly
 *   noise), then is recomputed every REFIT_EVERY new ones: often enough to follow the
 *   traffic, rarely enough that recording audits stays cheap (a refit reads up to
 *   REFIT_WINDOW audits and runs two golden-section searches).
 * - It is fitted on the latest REFIT_WINDOW audits, so it follows traffic that changes.
 * - Drifted: the ECE of what is served now (the refit when applied, else the shipped
 *   predictor) on those audits exceeds DRIFT_ECE. A refit that cannot bring the ECE under
 *   it (its temperature at a bound, or miscalibration a temperature cannot fix) keeps the
 *   flag up: the predictor needs retraining on this traffic (`allot audits export`).
 */
import { MIN_AUDITS } from "./earned.js";

export { MIN_AUDITS };

/** New audits of a predictor between two refits. */
export const REFIT_EVERY = 30;

/** The latest audits of a predictor a refit is fitted on. */
export const REFIT_WINDOW = 500;

/** Refits kept per predictor (the latest is the one applied; the rest are its history). */
export const REFIT_HISTORY = 20;

/**
 * The ECE above which calibration is said to have drifted. With about 30 audits of 16
 * samples each a calibrated predictor's ECE is mostly under 0.05 (binning noise); 0.05 is
 * also where a mispredicted p starts to move waves' spend by more than a sample in ten.
 */
export const DRIFT_ECE = 0.05;

/**
 * Whether a predictor is due a refit: `total` audits of it kept, `since` of them recorded
 * after its latest refit (null: never refitted).
 *
 * @example dueForRefit(30, null) // true
 * @example dueForRefit(200, 12) // false: 12 new audits, fewer than REFIT_EVERY
 */
export const dueForRefit = (total: number, since: number | null): boolean => total >= MIN_AUDITS && (since === null || since >= REFIT_EVERY);

/** A refit as applied: the temperature on the predictor's logit and the waves prior's strength. */
export interface Applied {
  readonly temperature: number;
  readonly strength: number;
}

/** Whether an ECE is past the drift threshold. */
export const drifted = (ece: number): boolean => ece > DRIFT_ECE;

/** A share as a whole percentage, or "never" where a curve never reaches the target. */
export const pct = (x: number | null): string => (x === null ? "never" : `${(100 * x).toFixed(0)}%`);

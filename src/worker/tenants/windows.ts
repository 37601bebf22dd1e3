/**
 * Budget windows: a tenant's budget is so many units per hour, day or month (UTC). Pure.
 */
export const WINDOWS = ["hour", "day", "month"] as const;
export type Window = (typeof WINDOWS)[number];

/** Start of the window containing `now`, and the start of the next one (ms since epoch). */
export function windowBounds(window: Window, now: number): { start: number; end: number } {
  const d = new Date(now);
  if (window === "hour") {
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours());
    return { start, end: start + 3_600_000 };
  }
  if (window === "day") {
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    return { start, end: start + 86_400_000 };
  }
  return { start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

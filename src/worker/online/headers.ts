/** What allot did for an online request, as response headers (http/headers.ts names them): per choice, comma-separated. */
import { RESPONSE_HEADERS as H } from "../http/headers.js";
import type { OnlineResult, ServedChoice } from "./request.js";

/**
 * A duration as Go writes one (time.Duration.String, which OpenAI's x-ratelimit-reset-*
 * headers use): hours, minutes and seconds, the zero units left out in front.
 *
 * @example goDuration(360_000) // "6m0s"
 * @example goDuration(3_723_000) // "1h2m3s"
 * @example goDuration(1_500) // "1.5s"
 * @example goDuration(20) // "20ms"
 */
export function goDuration(ms: number): string {
  if (ms <= 0) return "0s";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.round(((ms % 60_000) / 1000) * 1000) / 1000;
  return `${h > 0 ? `${h}h` : ""}${h > 0 || m > 0 ? `${m}m` : ""}${s}s`;
}

/** Header values are ASCII on one line. */
const headerSafe = (text: string) => text.replace(/[^\x20-\x7e]/g, "?").slice(0, 512);

/** The x-ratelimit-* headers of the tenant's tightest budget window (none when no window is limited, or it is not known here). */
export function rateLimitHeaders(budget: OnlineResult["budget"], now = Date.now()): Record<string, string> {
  if (!budget) return {};
  return {
    [H.limitUnits.name]: String(Math.floor(budget.limit)),
    [H.remainingUnits.name]: String(Math.floor(budget.remaining)),
    [H.resetUnits.name]: goDuration(budget.resetsAt - now),
  };
}

export function allotHeaders(r: OnlineResult): Record<string, string> {
  const each = (f: (c: ServedChoice) => string) => r.choices.map(f).join(",");
  const predicted = r.choices.every((c) => c.predicted !== null);
  return {
    [H.model.name]: [...new Set(r.choices.map((c) => c.model))].join(","),
    [H.samples.name]: each((c) => String(c.samples)),
    [H.units.name]: String(r.units),
    [H.rounds.name]: each((c) => String(c.rounds)),
    [H.price.name]: String(r.price),
    ...(r.budgetLimited ? { [H.planned.name]: String(r.planned), [H.limited.name]: "true" } : {}),
    ...(predicted ? { [H.predicted.name]: each((c) => c.predicted!.toFixed(4)) } : {}),
    ...(r.warnings.length > 0 ? { [H.warning.name]: headerSafe(r.warnings[0]) } : {}),
    ...rateLimitHeaders(r.budget),
  };
}

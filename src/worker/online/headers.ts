/** What allot did for an online request, as response headers (http/headers.ts names them): per choice, comma-separated. */
import { RESPONSE_HEADERS as H } from "../http/headers.js";
import type { OnlineResult, ServedChoice } from "./request.js";

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
  };
}

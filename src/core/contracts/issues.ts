import type { z } from "@hono/zod-openapi";

/** `queries.3.p` → `queries[3].p`: the way users write a field in JSON. */
export function fieldPath(path: readonly PropertyKey[]): string | null {
  if (path.length === 0) return null;
  return path
    .map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`))
    .join("");
}

/** The first validation issue as (field, one-line message). */
export function firstIssue(error: z.ZodError): { param: string | null; message: string } {
  const issue = error.issues[0];
  const param = issue ? fieldPath(issue.path) : null;
  const message = issue ? issue.message : "invalid input";
  return { param, message: param ? `${param}: ${message}` : message };
}

import { Invalid } from "../errors.js";

/**
 * An allocation input that cannot be solved as given: the request is wrong (Invalid).
 * `param` names the offending field in the request's own terms (e.g. `queries[3].p`,
 * `budget`), so the CLI and the HTTP layer can report it without knowing the solver's
 * internals.
 *
 * @example throw new AllocationError({ message: `p must be in [0, 1], got ${p}`, param: "queries[3].p" })
 */
export class AllocationError extends Invalid {
  override readonly name: string = "AllocationError";
}

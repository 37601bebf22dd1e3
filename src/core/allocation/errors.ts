/**
 * An allocation input that cannot be solved as given. `param` names the offending
 * field in the request's own terms (e.g. `queries[3].p`, `budget`), so the CLI and the
 * HTTP layer can report it without knowing the solver's internals.
 */
export class AllocationError extends Error {
  constructor(
    message: string,
    readonly param: string | null,
  ) {
    super(message);
    this.name = "AllocationError";
  }
}

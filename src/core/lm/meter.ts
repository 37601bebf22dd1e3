/**
 * What one request's calls to the model servers cost it: the wall time with at least one
 * call in flight (so concurrent calls count once), retries, and calls that failed for
 * good. A request makes one meter and hands it to the calls it makes (postJson's `meter`,
 * through the deployment's LmConfig); a call without one is not measured.
 */

export class CallMeter {
  retries = 0;
  errors = 0;
  busyMs = 0;
  private active = 0;
  private since = 0;

  constructor(private readonly now: () => number = Date.now) {}

  start(): void {
    if (this.active++ === 0) this.since = this.now();
  }

  end(): void {
    if (--this.active === 0) this.busyMs += this.now() - this.since;
  }

  /** Busy time so far, counting a call still in flight up to now. */
  elapsed(): number {
    return this.busyMs + (this.active > 0 ? this.now() - this.since : 0);
  }
}

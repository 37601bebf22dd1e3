/**
 * What one request's calls to the model servers cost it: the wall time with at least one
 * call in flight (so concurrent calls count once), retries, and calls that failed for
 * good. A request opens a meter with `metered`; every postJson within it reports to it
 * through AsyncLocalStorage, so the backends, the predictor's hidden-state calls and the
 * reranker need no extra parameter. Outside a meter, calls are not measured.
 */
import { AsyncLocalStorage } from "node:async_hooks";

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

const scope = new AsyncLocalStorage<CallMeter>();

/** Runs `work` with `meter` measuring its calls. */
export const metered = <T>(meter: CallMeter, work: () => Promise<T>): Promise<T> => scope.run(meter, work);

/** The meter of the request this code runs for, if any. */
export const currentMeter = (): CallMeter | undefined => scope.getStore();

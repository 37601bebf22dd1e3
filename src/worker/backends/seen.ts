/**
 * The deployment faults this isolate has met lately (Misconfigured: a server without the
 * route, task or model it is asked for, a setting unset, hidden states unlike a
 * predictor's), by setting, so that /healthz and /readyz can say the gateway is degraded
 * between requests, not only in the 503s of the requests that met them. Per isolate and
 * in memory: a fault fixed by a redeploy is forgotten with the isolate, one fixed on the
 * server side after FAULT_MEMORY_MS; `allot doctor` probes every server afresh.
 */
import { Misconfigured } from "../../core/errors.js";

/** How long a fault is remembered after it was last met. */
export const FAULT_MEMORY_MS = 5 * 60_000;

export interface SeenFault {
  readonly setting: string | null;
  /** What the caller was told (no server address). */
  readonly message: string;
  readonly count: number;
  readonly last_seen: string;
}

const seen = new Map<string, { fault: Misconfigured; count: number; at: number }>();

/**
 * Remembers `e` when it is a deployment fault.
 *
 * @example catch (e) { noteFault(e); throw e; }
 */
export function noteFault(e: unknown, now = Date.now()): void {
  if (!(e instanceof Misconfigured)) return;
  const key = `${e.setting ?? ""}\n${e.reason}`;
  const was = seen.get(key);
  seen.set(key, { fault: e, count: (was?.count ?? 0) + 1, at: now });
  if (seen.size > 32) seen.delete(seen.keys().next().value!);
}

/** The faults met within FAULT_MEMORY_MS, the latest first. */
export function recentFaults(now = Date.now()): SeenFault[] {
  for (const [k, v] of seen) if (now - v.at > FAULT_MEMORY_MS) seen.delete(k);
  return [...seen.values()]
    .sort((a, b) => b.at - a.at)
    .map((v) => ({ setting: v.fault.setting, message: v.fault.reason, count: v.count, last_seen: new Date(v.at).toISOString() }));
}

/** Forgets every fault (tests). */
export function forgetFaults(): void {
  seen.clear();
}

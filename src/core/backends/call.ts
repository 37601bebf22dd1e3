/**
 * One HTTP call to a model server, as data: where, what, how to read the answer. Backends
 * build calls; `runCall` makes them with the deployment's key and retry policy.
 */
import type { ZodType } from "zod";
import { AllotError, Unavailable, isUpstream } from "../errors.js";
import { type RetryPolicy, postJson } from "../lm/http.js";
import type { CallMeter } from "../lm/meter.js";
import { type Role, deploymentFault } from "./faults.js";

export interface BackendCall<R> {
  readonly path: string;
  readonly body: unknown;
  readonly response: ZodType<any>;
  /** Reads the parsed answer; throws (any Error) when it does not fit the request. */
  readonly extract: (res: any) => R;
}

export interface Endpoint {
  readonly url: string;
  readonly apiKey?: string;
  /**
   * What the server is to the gateway: given, a refusal that blames the deployment (no
   * such route, task or model: faults.ts) is Misconfigured naming the setting to change,
   * not the caller's fault.
   */
  readonly role?: Role;
}

/** Makes `call`; `meter`, when given, counts its time, retries and failure (lm/meter.ts). */
export async function runCall<R>(to: Endpoint, call: BackendCall<R>, policy: RetryPolicy, meter?: CallMeter): Promise<R> {
  const url = `${to.url}${call.path}`;
  let res: unknown;
  try {
    res = await postJson(url, call.body, call.response, {
      headers: to.apiKey ? { authorization: `Bearer ${to.apiKey}` } : undefined,
      policy,
      meter,
    });
  } catch (e) {
    const fault = to.role && isUpstream(e) ? deploymentFault(e, to.role, { url: to.url, path: call.path, model: String((call.body as { model?: unknown })?.model ?? "") }) : null;
    throw fault ?? e;
  }
  try {
    return call.extract(res);
  } catch (e) {
    // A domain error (a reward label the answer does not have: Misconfigured) says itself.
    if (e instanceof AllotError) throw e;
    // A well-formed answer that does not fit the question (too few choices, an empty
    // state) is the server's fault, and retrying will not change it.
    throw new Unavailable({ message: `${url}: ${(e as Error).message}`, reason: (e as Error).message, upstreamStatus: 200, retryable: false, cause: e });
  }
}

/**
 * One HTTP call to a model server, as data: where, what, how to read the answer. Backends
 * build calls; `runCall` makes them with the deployment's key and retry policy.
 */
import type { ZodType } from "zod";
import { Unavailable } from "../errors.js";
import { type RetryPolicy, postJson } from "../lm/http.js";
import type { CallMeter } from "../lm/meter.js";

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
}

/** Makes `call`; `meter`, when given, counts its time, retries and failure (lm/meter.ts). */
export async function runCall<R>(to: Endpoint, call: BackendCall<R>, policy: RetryPolicy, meter?: CallMeter): Promise<R> {
  const url = `${to.url}${call.path}`;
  const res = await postJson(url, call.body, call.response, {
    headers: to.apiKey ? { authorization: `Bearer ${to.apiKey}` } : undefined,
    policy,
    meter,
  });
  try {
    return call.extract(res);
  } catch (e) {
    // A well-formed answer that does not fit the question (too few choices, an empty
    // state) is the server's fault, and retrying will not change it.
    throw new Unavailable({ message: `${url}: ${(e as Error).message}`, reason: (e as Error).message, upstreamStatus: 200, retryable: false, cause: e });
  }
}

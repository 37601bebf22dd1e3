/**
 * JSON over HTTP with the retry policy an LM backend needs: retry on network errors,
 * timeouts, 429 and 5xx (and on a 200 whose body is not the expected JSON), with
 * exponential backoff and jitter, honouring Retry-After; fail at once on other 4xx.
 * Failures are domain errors (../errors.ts): UpstreamRefused for a request the server
 * refused for what it asked, Unavailable for a server that failed. Their `message` names
 * the server (for logs); `reason` is what it said, without its address, for a caller who
 * must not learn the deployment's internal URLs.
 * Only fetch and timers: runs in Node and in workerd alike.
 */
import type { ZodType } from "zod";
import { UpstreamRefused, Unavailable, type UpstreamError } from "../errors.js";
import type { CallMeter } from "./meter.js";

export interface RetryPolicy {
  readonly attempts: number;
  readonly timeoutMs: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 5, timeoutMs: 30_000, baseDelayMs: 250, maxDelayMs: 10_000 };

/** Retry-After in ms: delta-seconds or an HTTP date; null if absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The message and param of an error body: OpenAI's and current vLLM's {error: {…}}, or vLLM 0.10's flat one. */
function errorFields(body: unknown): { message: string | null; param: string | null } {
  const b = body as { error?: { message?: unknown; param?: unknown }; message?: unknown; param?: unknown } | null;
  const e = b?.error && typeof b.error === "object" ? b.error : b;
  return { message: typeof e?.message === "string" ? e.message : null, param: typeof e?.param === "string" ? e.param : null };
}

/**
 * POSTs `body` as JSON and parses the answer with `schema`.
 *
 * @example const res = await postJson(`${lm}/pooling`, { model, input }, PoolingResponseSchema);
 */
export async function postJson<T>(
  url: string,
  body: unknown,
  schema: ZodType<T>,
  opts: { policy?: RetryPolicy; headers?: Record<string, string>; fetch?: typeof fetch; meter?: CallMeter } = {},
): Promise<T> {
  const meter = opts.meter;
  meter?.start();
  try {
    return await postWithRetries(url, body, schema, opts, () => {
      if (meter) meter.retries++;
    });
  } catch (e) {
    if (meter) meter.errors++;
    throw e;
  } finally {
    meter?.end();
  }
}

/** postJson's attempts; `retried` is told of each failed attempt that will be tried again. */
async function postWithRetries<T>(
  url: string,
  body: unknown,
  schema: ZodType<T>,
  opts: { policy?: RetryPolicy; headers?: Record<string, string>; fetch?: typeof fetch },
  retried: () => void,
): Promise<T> {
  const policy = opts.policy ?? defaultRetryPolicy;
  const doFetch = opts.fetch ?? fetch;
  let last: UpstreamError | null = null;
  let lastWait: number | null = null;
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    let wait: number | null = null;
    try {
      const res = await doFetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...opts.headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(policy.timeoutMs),
      });
      const text = await res.text();
      let json: unknown = undefined;
      try {
        json = JSON.parse(text);
      } catch {
        /* handled below */
      }
      if (res.ok) {
        const parsed = schema.safeParse(json);
        if (parsed.success) return parsed.data;
        last = new Unavailable({ message: `${url} answered 200 with an unexpected body: ${text.slice(0, 200)}`, reason: "the server answered with an unexpected body", upstreamStatus: res.status });
      } else {
        const fields = errorFields(json);
        const detail = fields.message ?? text.slice(0, 200);
        const failed = { message: `${url} answered ${res.status}: ${detail}`, reason: `${res.status}: ${detail}`, upstreamStatus: res.status, param: fields.param };
        // Refused for what it asked (a 4xx other than 408 and 429): the caller's to fix, not tried again.
        if (res.status < 500 && res.status !== 429 && res.status !== 408) throw new UpstreamRefused(failed);
        last = new Unavailable(failed);
        wait = retryAfterMs(res.headers.get("retry-after"));
        lastWait = wait;
      }
    } catch (e) {
      if (e instanceof UpstreamRefused) throw e;
      const timeout = (e as Error).name === "TimeoutError" || (e as Error).name === "AbortError";
      const why = timeout ? `no answer within ${policy.timeoutMs} ms` : "the server could not be reached";
      last = new Unavailable({ message: `${url}: ${timeout ? why : (e as Error).message}`, reason: why, cause: e });
    }
    if (attempt < policy.attempts) {
      retried();
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      await sleep(Math.min(policy.maxDelayMs, wait ?? backoff * (0.5 + Math.random() / 2)));
    }
  }
  const gaveUp = ` (gave up after ${policy.attempts} attempts)`;
  throw new Unavailable({ message: `${last!.message}${gaveUp}`, reason: `${last!.reason}${gaveUp}`, upstreamStatus: last!.upstreamStatus, retryAfterMs: lastWait, cause: last });
}

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

/**
 * A server's non-2xx answer as the error to retry on (Unavailable), or, refused for what
 * it asked (a 4xx other than 408 and 429: the caller's to fix, not tried again), thrown
 * as UpstreamRefused. One reading for whole and streamed calls.
 */
function failedAnswer(url: string, res: Response, json: unknown, text: string): Unavailable {
  const fields = errorFields(json);
  const detail = fields.message ?? text.slice(0, 200);
  const failed = { message: `${url} answered ${res.status}: ${detail}`, reason: `${res.status}: ${detail}`, upstreamStatus: res.status, param: fields.param };
  if (res.status < 500 && res.status !== 429 && res.status !== 408) throw new UpstreamRefused(failed);
  return new Unavailable(failed);
}

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
        last = failedAnswer(url, res, json, text);
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

/**
 * POSTs `body` and reads the answer as server-sent events (OpenAI's streams): each
 * `data:` line's JSON, in order, until `data: [DONE]` or the end. Getting the stream
 * started follows the same policy as postJson (retries on network errors, timeouts, 429
 * and 5xx; UpstreamRefused at once on another 4xx); once its first byte is in, a failure
 * is not retried (what was streamed cannot be taken back): the iterator throws
 * Unavailable, also for a chunk that carries an `error` (vLLM's way of failing mid-stream)
 * and when no chunk comes for `timeoutMs`.
 *
 * @example for await (const chunk of await postStream(`${lm}/v1/chat/completions`, { model, messages, stream: true })) …
 */
export async function postStream(
  url: string,
  body: unknown,
  opts: { policy?: RetryPolicy; headers?: Record<string, string>; fetch?: typeof fetch; meter?: CallMeter; signal?: AbortSignal } = {},
): Promise<AsyncIterable<unknown>> {
  const policy = opts.policy ?? defaultRetryPolicy;
  const doFetch = opts.fetch ?? fetch;
  const meter = opts.meter;
  let last: UpstreamError | null = null;
  let lastWait: number | null = null;
  meter?.start();
  let started = false;
  try {
    for (let attempt = 1; attempt <= policy.attempts; attempt++) {
      let wait: number | null = null;
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(new DOMException("timed out", "TimeoutError")), policy.timeoutMs);
      const relay = () => abort.abort(opts.signal!.reason);
      opts.signal?.addEventListener("abort", relay);
      try {
        const res = await doFetch(url, { method: "POST", headers: { "content-type": "application/json", accept: "text/event-stream", ...opts.headers }, body: JSON.stringify(body), signal: abort.signal });
        if (res.ok && res.body && /json/i.test(res.headers.get("content-type") ?? "")) {
          // A server that ignores `stream: true` answers whole: one "chunk".
          clearTimeout(timer);
          opts.signal?.removeEventListener("abort", relay);
          const text = await res.text();
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            throw new Unavailable({ message: `${url} answered 200 with an unexpected body: ${text.slice(0, 200)}`, reason: "the server answered with an unexpected body", upstreamStatus: res.status, retryable: false });
          }
          started = true;
          meter?.end();
          return (async function* () {
            yield json;
          })();
        }
        if (res.ok && res.body) {
          clearTimeout(timer);
          started = true;
          return events(url, res.body, abort, policy.timeoutMs, () => {
            opts.signal?.removeEventListener("abort", relay);
            meter?.end();
          });
        }
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", relay);
        const text = await res.text();
        let json: unknown = undefined;
        try {
          json = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        last = failedAnswer(url, res, json, text);
        wait = retryAfterMs(res.headers.get("retry-after"));
        lastWait = wait;
      } catch (e) {
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", relay);
        if (e instanceof UpstreamRefused || (e instanceof Unavailable && !e.retryable)) throw e;
        if (opts.signal?.aborted) throw opts.signal.reason;
        const timeout = (e as Error).name === "TimeoutError" || (e as Error).name === "AbortError";
        const why = timeout ? `no answer within ${policy.timeoutMs} ms` : "the server could not be reached";
        last = new Unavailable({ message: `${url}: ${timeout ? why : (e as Error).message}`, reason: why, cause: e });
      }
      if (attempt < policy.attempts) {
        if (meter) meter.retries++;
        const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
        await sleep(Math.min(policy.maxDelayMs, wait ?? backoff * (0.5 + Math.random() / 2)));
      }
    }
    const gaveUp = ` (gave up after ${policy.attempts} attempts)`;
    throw new Unavailable({ message: `${last!.message}${gaveUp}`, reason: `${last!.reason}${gaveUp}`, upstreamStatus: last!.upstreamStatus, retryAfterMs: lastWait, cause: last });
  } catch (e) {
    if (meter) meter.errors++;
    throw e;
  } finally {
    if (!started) meter?.end();
  }
}

/** The `data:` payloads of an event stream, parsed; `done` runs once when it ends. */
async function* events(url: string, body: ReadableStream<Uint8Array>, abort: AbortController, idleMs: number, done: () => void): AsyncGenerator<unknown> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const read = () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Unavailable({ message: `${url}: no chunk within ${idleMs} ms`, reason: `the stream stalled (no chunk within ${idleMs} ms)`, retryable: false })), idleMs);
    });
    return Promise.race([reader.read(), idle]).finally(() => clearTimeout(timer));
  };
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await read();
      } catch (e) {
        if (e instanceof Unavailable) throw e;
        throw new Unavailable({ message: `${url}: the stream broke: ${(e as Error).message}`, reason: "the stream broke off", retryable: false, cause: e });
      }
      if (chunk.done) return;
      buffer += decoder.decode(chunk.value, { stream: true });
      let end: number;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        const data = event
          .split(/\r?\n/)
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).replace(/^ /, ""))
          .join("\n");
        if (data === "") continue;
        if (data === "[DONE]") return;
        let json: unknown;
        try {
          json = JSON.parse(data);
        } catch {
          throw new Unavailable({ message: `${url}: a chunk that is not JSON: ${data.slice(0, 200)}`, reason: "the server streamed a chunk that is not JSON", retryable: false });
        }
        const err = (json as { error?: unknown }).error;
        if (err) {
          const { message } = errorFields(json);
          throw new Unavailable({ message: `${url}: failed mid-stream: ${message ?? JSON.stringify(err).slice(0, 200)}`, reason: `the server failed mid-stream: ${message ?? "no reason given"}`, retryable: false });
        }
        yield json;
      }
    }
  } finally {
    abort.abort();
    reader.releaseLock();
    done();
  }
}

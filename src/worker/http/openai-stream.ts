/**
 * OpenAI's streaming wire format: server-sent events, each chunk a `data: <json>` event
 * (the Responses API adds `event: <type>` lines), comments (`: keep-alive`) to show a
 * stream is alive while nothing else is sent. One helper for every stream the online
 * routes send: written as things happen, never waiting for the client, so a client that
 * goes away does not stop the work behind it.
 */

/** Pieces of an answer, as a stream delivers them: words with their leading whitespace. */
export function streamPieces(text: string): string[] {
  return text.match(/\s*\S{1,16}|\s+/g) ?? [];
}

export interface SseWriter {
  /** A `data:` event (with an `event:` line when named). */
  data(json: unknown, event?: string): void;
  /** A comment line, which every SSE reader skips. */
  comment(text: string): void;
  /** `data: [DONE]`, the end of a chat or completions stream. */
  done(): void;
}

/**
 * A text/event-stream response whose events `produce` writes as it goes. The response
 * starts at once (its headers, then whatever `produce` writes); it ends when `produce`
 * settles. A failure of `produce` is its own to report in the stream (the status is out):
 * here it is only logged.
 */
export function sseResponse(headers: Record<string, string>, produce: (out: SseWriter) => Promise<void>, waitUntil: (p: Promise<unknown>) => void = () => {}): Response {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const enc = new TextEncoder();
  let gone = false;
  const write = (text: string) => {
    if (gone) return;
    writer.write(enc.encode(text)).catch(() => {
      gone = true; // the client went away; the work goes on
    });
  };
  const out: SseWriter = {
    data: (json, event) => write(`${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(json)}\n\n`),
    comment: (text) => write(`: ${text}\n\n`),
    done: () => write("data: [DONE]\n\n"),
  };
  const running = produce(out)
    .catch((e) => console.error("a stream failed after it started", e))
    .finally(() => writer.close().catch(() => undefined));
  waitUntil(running);
  return new Response(readable, { status: 200, headers: { ...headers, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" } });
}

/** How long a stream that samples in rounds waits for its answer before it starts, with keep-alives (errors before then are HTTP errors). */
export const STREAM_GRACE_MS = 1000;
/** A keep-alive comment this often while a stream waits for its answer. */
export const KEEPALIVE_MS = 5000;

/**
 * `result` within `graceMs`: its value, or its error thrown; `null` when it takes longer
 * (the caller then starts streaming and waits on).
 */
export async function withinGrace<T>(result: Promise<T>, graceMs = STREAM_GRACE_MS): Promise<{ value: T } | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), graceMs)));
  try {
    return await Promise.race([result.then((value) => ({ value })), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Writes a keep-alive comment at once and then every KEEPALIVE_MS until `until` settles. */
export async function keepAliveUntil<T>(out: SseWriter, until: Promise<T>, everyMs = KEEPALIVE_MS): Promise<T> {
  out.comment("keep-alive");
  const timer = setInterval(() => out.comment("keep-alive"), everyMs);
  try {
    return await until;
  } finally {
    clearInterval(timer);
  }
}

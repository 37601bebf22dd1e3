/**
 * OpenAI's streaming wire format: server-sent events, each chunk a `data: <json>` line,
 * the stream closed by `data: [DONE]`.
 */

/** Pieces of an answer, as a stream delivers them: words with their leading whitespace. */
export function streamPieces(text: string): string[] {
  return text.match(/\s*\S{1,16}|\s+/g) ?? [];
}

export function openaiStream(chunks: readonly unknown[], headers: Record<string, string>): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(`data: ${JSON.stringify(chunk)}\n\n`));
      controller.enqueue(encoder.encode("data: [DONE]\n\n"));
      controller.close();
    },
  });
  return new Response(body, {
    status: 200,
    headers: { ...headers, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
  });
}

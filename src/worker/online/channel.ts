/**
 * An async queue from one producer to one reader: the producer pushes as it goes and
 * closes (or fails) at the end; the reader iterates. The producer never waits for the
 * reader, so a reader that goes away (a client that disconnects) does not stop it.
 *
 * @example const ch = new Channel<string>(); ch.push("a"); ch.close(); for await (const x of ch) console.log(x) // "a"
 */
export class Channel<T> implements AsyncIterable<T> {
  private readonly queue: T[] = [];
  private ended = false;
  private error: { e: unknown } | null = null;
  private wake: (() => void) | null = null;

  push(item: T): void {
    if (this.ended) return;
    this.queue.push(item);
    this.notify();
  }

  close(): void {
    this.ended = true;
    this.notify();
  }

  fail(e: unknown): void {
    if (this.ended) return;
    this.error = { e };
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      while (this.queue.length > 0) yield this.queue.shift()!;
      if (this.ended) {
        if (this.error) throw this.error.e;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

/** What a condition gives when it holds: its value, less the falsy ones. */
export type Truthy<T> = Exclude<T, null | undefined | false | 0 | "">;

/**
 * Resolves with `cond`'s first truthy value, polling every `everyMs`; throws after `timeoutMs`
 * naming `what`. A test waits on what it can observe, with a deadline, not for a fixed time.
 * Plain TypeScript: the workers tests and the Node tests share it.
 *
 * @example await until(async () => (await usage()).reserved === 0, { timeoutMs: 10_000, what: "the lease to run out" });
 */
export async function until<T>(cond: () => T | Promise<T>, o: { timeoutMs: number; everyMs?: number; what?: string }): Promise<Truthy<T>> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as Truthy<T>;
    if (Date.now() >= deadline) throw new Error(`waited ${o.timeoutMs} ms for ${o.what ?? "a condition"}, in vain`);
    await new Promise((r) => setTimeout(r, o.everyMs ?? 20));
  }
}

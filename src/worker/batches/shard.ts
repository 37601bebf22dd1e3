/**
 * One shard of a large batch: a Durable Object whose only job is drawing samples. It asks
 * its BatchRun for work (prompts with index ≡ k mod shards), draws them with its own
 * connections (IN_FLIGHT at a time), delivers the outcomes, and asks again, on its own
 * alarms. It keeps nothing but which shard it is: the BatchRun decides the work, applies
 * every outcome once and charges it, so a shard that dies, is evicted or delivers twice
 * loses and double-charges nothing (work it held is handed out again when it asks again).
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.js";
import { drawWork } from "./work.js";

type Assignment = { batch: string; shard: number; shards: number };

export class BatchShard extends DurableObject<Env> {
  /** Become shard `shard` of `shards` for batch `batch`, and start drawing (idempotent: a shard already awake stays as it is). */
  async start(batch: string, shard: number, shards: number): Promise<void> {
    await this.ctx.storage.put<Assignment>("assignment", { batch, shard, shards });
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + 1);
  }

  override async alarm(): Promise<void> {
    const a = await this.ctx.storage.get<Assignment>("assignment");
    if (!a) return;
    const run = this.env.BATCHES.get(this.env.BATCHES.idFromName(a.batch));
    const work = await run.shardWork(a.shard, a.shards);
    if (work.sampling === null) {
      // The batch has ended (or is gone): nothing more to do here.
      await this.ctx.storage.deleteAll();
      return;
    }
    if (work.items.length > 0) {
      await run.shardDeliver(await drawWork(this.env, work.sampling, work.items));
      await this.ctx.storage.setAlarm(Date.now() + 1);
    } else if (work.retryAt !== null) {
      // Work waiting (a retry's backoff): ask again then.
      await this.ctx.storage.setAlarm(work.retryAt);
    }
    // Else: nothing for this shard until the next round, which wakes it.
  }
}

import { createApp } from "./app.js";

export { BatchRun } from "./batches/run.js";
export { BatchShard } from "./batches/shard.js";
export { BudgetShard } from "./tenants/budget-shard.js";
export { TenantDirectory } from "./tenants/directory.js";
export { TenantLedger } from "./tenants/ledger.js";
export { Vault } from "./storage/vault.js";

/** Worker entry point. */
export default createApp();

import { createApp } from "./app.js";

export { TenantLedger } from "./tenants/ledger.js";

/** Worker entry point. */
export default createApp();

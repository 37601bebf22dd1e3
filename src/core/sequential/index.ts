/** The sequential-sampling core: a query's arms and state (query.ts) and the rule that decides its next draw (rule.ts). */
export * from "./query.js";
export * from "./rule.js";

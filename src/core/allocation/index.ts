/** The allocation core: pure TypeScript, no platform APIs; used by the Worker and the CLI. */
export { AllocationError } from "./errors.js";
export { bernoulliCount, bernoulliCountLogs, bernoulliGain, bernoulliValue, isNonIncreasing, projectNonIncreasing } from "./curves.js";
export { type BatchProblem, type Projection, freeUnitsAbove, prepareBatch, unitGain, valueOf } from "./problem.js";
export { type BatchSolution, type SolveOptions, solveBatch } from "./batch.js";
export { type MenuOption, type MenuSolution, solveMenu } from "./menu.js";
export {
  type PriceControllerConfig,
  type PriceState,
  currentPrice,
  defaultPriceConfig,
  initialPriceState,
  observeSpend,
  singleQuery,
  unitsAtPrice,
} from "./price.js";
export { allocate, buildBatch } from "./build.js";

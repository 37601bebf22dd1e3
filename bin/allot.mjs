#!/usr/bin/env node
// The allot CLI. Runs the TypeScript sources directly through tsx, so there is no build
// step between a clone and `npx allot`.
import { register } from "tsx/esm/api";

register();
await import("../src/node/cli/main.ts");

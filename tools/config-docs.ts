/**
 * `npm run docs:config`: writes docs/configuration.md from the settings table
 * (src/core/config/settings.ts). test/node/configuration.test.ts fails when it is stale.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { configurationDoc } from "../src/core/config/docs.js";

const path = fileURLToPath(new URL("../docs/configuration.md", import.meta.url));
writeFileSync(path, configurationDoc());
console.log(`wrote ${path}`);

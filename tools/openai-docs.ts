/**
 * `npm run docs:openai`: writes docs/openai.md's field table from the request-field table
 * (src/core/contracts/openai.ts), between its markers. test/node/openai-docs.test.ts fails
 * when the committed table is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { withFieldsTable } from "../src/core/contracts/openai-docs.js";

const path = fileURLToPath(new URL("../docs/openai.md", import.meta.url));
writeFileSync(path, withFieldsTable(readFileSync(path, "utf8")));
console.log(`wrote the field table of ${path}`);

// docs/openai.md's field table is generated from the one table of request fields
// (src/core/contracts/openai.ts): the committed doc must be what `npm run docs:openai` writes.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { withFieldsTable } from "../../src/core/contracts/openai-docs.js";

describe("docs/openai.md", () => {
  it("carries the field table as generated (run `npm run docs:openai` after changing src/core/contracts/openai.ts)", () => {
    const doc = readFileSync(new URL("../../docs/openai.md", import.meta.url), "utf8");
    expect(doc, "docs/openai.md's field table is stale: run `npm run docs:openai`").toBe(withFieldsTable(doc));
  });
});

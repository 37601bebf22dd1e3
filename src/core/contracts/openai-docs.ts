/**
 * docs/openai.md's field table, generated from the one table of request fields
 * (openai.ts fieldsDoc) between two markers, so the doc cannot drift from what the routes
 * validate and forward. `npm run docs:openai` writes it; a test fails when it is stale.
 */
import { fieldsDoc } from "./openai.js";

export const FIELDS_BEGIN = "<!-- fields: generated from src/core/contracts/openai.ts by `npm run docs:openai`; edit the table there -->";
export const FIELDS_END = "<!-- /fields -->";

/**
 * `doc` with the text between the markers replaced by the current table.
 *
 * @example withFieldsTable(`a\n${FIELDS_BEGIN}\nold\n${FIELDS_END}\nb`).includes("| `model` |") // true
 */
export function withFieldsTable(doc: string): string {
  const begin = doc.indexOf(FIELDS_BEGIN);
  const end = doc.indexOf(FIELDS_END);
  if (begin < 0 || end < begin) throw new Error(`docs/openai.md has no field-table markers (${FIELDS_BEGIN} … ${FIELDS_END})`);
  return `${doc.slice(0, begin + FIELDS_BEGIN.length)}\n\n${fieldsDoc()}\n\n${doc.slice(end)}`;
}

/**
 * docs/configuration.md, written from the settings table (settings.ts), so the docs cannot
 * drift from what the gateway reads. `npm run docs:config` writes it; a test fails when
 * the committed file is stale.
 */
import { type Area, SETTINGS, type Setting, type SettingName } from "./settings.js";

const AREAS: readonly Area[] = ["LM servers", "hidden states", "rewards", "access", "online requests", "OpenAI API", "batches", "predictors"];

/** A table cell: pipes escaped, so a value cannot end its cell. */
const cell = (text: string) => text.replace(/\|/g, "\\|");

function row(name: SettingName, s: Setting<unknown>): string {
  const unit = s.unit ? ` ${s.unit}` : "";
  const byDefault = s.default !== undefined ? `\`${s.default}\`${unit}` : `unset: ${s.unset ?? "none"}`;
  const kind = s.secret ? "secret: " : "";
  return `| \`${name}\` | ${cell(byDefault)} | ${cell(kind + s.format.must)} | ${cell(s.description)} |`;
}

/**
 * The whole of docs/configuration.md.
 *
 * @example writeFileSync("docs/configuration.md", configurationDoc())
 */
export function configurationDoc(): string {
  const names = Object.keys(SETTINGS) as SettingName[];
  const sections = AREAS.map((area) => {
    const rows = names.filter((n) => SETTINGS[n].area === area).map((n) => row(n, SETTINGS[n]));
    return [`## ${area[0].toUpperCase()}${area.slice(1)}`, "", "| setting | default | must be | what it does |", "|---|---|---|---|", ...rows].join("\n");
  });
  return [
    "# Configuration",
    "",
    "<!-- Generated from src/core/config/settings.ts by `npm run docs:config`; edit the table there, not this file. -->",
    "",
    "The gateway's settings: wrangler vars (`wrangler.toml` `[vars]`, or `[env.production.vars]`;",
    "`.dev.vars` or `--var NAME:value` locally) and secrets (`npx wrangler secret put NAME`). Each",
    "is text; unset or empty means its default. A value that does not read as its format is",
    "never replaced by the default: every request is refused with a",
    "503 (`x-should-retry: false`) whose message names the setting and what it must be. The",
    "bindings (Durable Object namespaces, the `PREDICTORS` R2 bucket, the `AUTH_FAILURES` and",
    "`PREDICTIONS` rate limiters) are in `wrangler.toml`.",
    "",
    `${names.length} settings, ${names.filter((n) => SETTINGS[n].secret).length} of them secrets.`,
    "",
    sections.join("\n\n"),
    "",
  ].join("\n");
}

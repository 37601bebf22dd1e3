// Debian's chromium, headless, driven by puppeteer-core (no browser download: the
// package installs with apt, `.ci/run` installs it where it can). The flags are the ones
// this network needs: without the background-networking ones, chromium dials Google's
// hosts at start and is refused.
import { existsSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser } from "puppeteer-core";

const CANDIDATES = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter((p): p is string => !!p);

/** The chromium binary, or null when none is installed. */
export const chromiumPath = (): string | null => CANDIDATES.find((p) => existsSync(p)) ?? null;

export async function launchChromium(): Promise<{ browser: Browser; close(): Promise<void> }> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error("no chromium: apt-get install chromium (or set CHROMIUM_PATH)");
  const profile = mkdtempSync(join(tmpdir(), "allot-chromium-"));
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
      `--user-data-dir=${profile}`,
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

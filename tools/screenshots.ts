// npm run screenshots [-- --rounds 6 --pause-ms 15000 --out docs/img]
//
// Regenerates the README's pictures of the console: starts the reference LM and the
// gateway (`allot serve-gateway`), sends real traffic over a few minutes (so the per-minute
// charts have points), runs a batch against a slowed LM, and photographs the console in
// Debian's headless chromium.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { launchChromium } from "../src/node/harness/browser.js";
import { sendTraffic, submitBatch } from "../src/node/harness/console-traffic.js";
import { startGateway } from "../src/node/harness/gateway.js";
import { startLmServer } from "../src/node/harness/lm-server.js";
import { startSwitchProxy } from "../src/node/harness/switch-proxy.js";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "6" }, "pause-ms": { type: "string", default: "15000" }, out: { type: "string", default: "docs/img" } } });
const out = values.out!;
mkdirSync(out, { recursive: true });

const lm = await startLmServer();
const proxy = await startSwitchProxy(lm.url);
const gw = await startGateway(proxy.url);
const chromium = await launchChromium();
try {
  process.stdout.write(`gateway ${gw.url}; sending ${values.rounds} rounds of traffic…\n`);
  const traffic = await sendTraffic(gw, { rounds: Number(values.rounds), pauseMs: Number(values["pause-ms"]) });
  const done = await submitBatch(gw, traffic.tenant.key, 48);
  for (let i = 0; i < 600; i++) {
    const s = (await (await fetch(`${gw.url}/v1/batches/${done}`, { headers: { authorization: `Bearer ${traffic.tenant.key}` } })).json()) as { status: string };
    if (s.status === "done") break;
    await new Promise((r) => setTimeout(r, 500));
  }
  proxy.delayMs = 150;
  const running = await submitBatch(gw, traffic.tenant.key, 400);

  const page = await chromium.browser.newPage();
  await page.setViewport({ width: 1440, height: 900, deviceScaleFactor: 1 });
  await page.goto(`${gw.url}/dashboard`);
  await page.waitForSelector("#login:not([hidden])");
  await page.screenshot({ path: join(out, "console-login.png") });
  await page.type("#token", gw.admin);
  await page.click("#login button[type=submit]");
  await page.waitForSelector(`tr[data-tenant="${traffic.tenant.id}"]`);
  await page.click(`tr[data-tenant="${traffic.tenant.id}"]`);
  await page.waitForSelector("#chart-added canvas");
  await page.waitForSelector("#calibration canvas");
  await page.waitForSelector(`tr[data-batch="${running}"]`);
  await page.click(`tr[data-batch="${running}"]`);
  await page.waitForFunction(() => Number((document.querySelector("#batch-progress em") as HTMLElement | null)?.dataset.done ?? 0) > 0, { timeout: 120_000 });
  const shoot = async (selector: string, file: string) => {
    const el = await page.$(selector);
    await el!.screenshot({ path: join(out, file) });
    process.stdout.write(`wrote ${join(out, file)}\n`);
  };
  await shoot("main > section:nth-of-type(1)", "console-tenants.png");
  await shoot("main > section:nth-of-type(2)", "console-tenant.png");
  await shoot("main > section:nth-of-type(3)", "console-batches.png");
  await shoot("main > section:nth-of-type(4)", "console-predictors.png");
  await page.goto(`${gw.url}/docs`);
  await page.waitForSelector("details.op");
  await page.$$eval("details.op", (els) => els.filter((e) => e.textContent!.includes("/v1/completions")).slice(0, 1).forEach((e) => ((e as HTMLDetailsElement).open = true)));
  await page.screenshot({ path: join(out, "docs.png") });
  process.stdout.write(`wrote ${join(out, "docs.png")}\n`);
} finally {
  await chromium.close();
  await gw.stop();
  await proxy.close();
  await lm.stop();
}

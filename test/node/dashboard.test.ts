// The operator's console in a real browser: Debian's chromium, headless, against the
// gateway as users run it (`allot serve-gateway`, workerd) in front of the real reference LM, showing
// traffic this test sent. Skipped, saying so, only where chromium is not installed
// (`.ci/run` installs it with apt where it can).
import type { Browser, Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumPath, launchChromium } from "../../src/node/harness/browser.js";
import { type Traffic, sendTraffic, submitBatch } from "../../src/node/harness/console-traffic.js";
import { type RunningGateway, startGateway } from "../../src/node/harness/gateway.js";
import { type RunningServer, startLmServer } from "../../src/node/harness/lm-server.js";
import { type SwitchProxy, startSwitchProxy } from "../../src/node/harness/switch-proxy.js";

const chromium = chromiumPath();
if (!chromium) console.warn("dashboard.test.ts: SKIPPED, no chromium (apt-get install chromium, or set CHROMIUM_PATH)");

describe.skipIf(!chromium)("the operator's console (/dashboard) in headless chromium", () => {
  let lm: RunningServer;
  let proxy: SwitchProxy;
  let gw: RunningGateway;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let traffic: Traffic;
  /** Every URL the page asked for. */
  const requested: string[] = [];

  beforeAll(async () => {
    lm = await startLmServer();
    // Between the gateway and the LM: slowed down later, so a batch runs long enough to watch.
    proxy = await startSwitchProxy(lm.url);
    gw = await startGateway(proxy.url);
    // Three rounds: enough audited prompts (one per priced prompt) for the reliability plot to be drawn from audits.
    traffic = await sendTraffic(gw, { rounds: 3 });
    browser = await launchChromium();
    page = await (browser.browser as Browser).newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    page.on("request", (r) => requested.push(r.url()));
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
    await proxy?.close();
    await lm?.stop();
  });

  it("asks for the admin token, refuses a wrong one, and keeps the right one in the tab's session, not the URL", async () => {
    await page.goto(`${gw.url}/dashboard`);
    await page.waitForSelector("#login:not([hidden])");
    // Nothing to log out of yet.
    expect(await page.$eval("#logout", (b) => getComputedStyle(b).display)).toBe("none");
    await page.type("#token", "not-the-token");
    await page.click("#login button[type=submit]");
    await page.waitForFunction(() => document.querySelector("#login-error")!.textContent!.includes("refused"));
    await page.$eval("#token", (el) => ((el as HTMLInputElement).value = ""));
    await page.type("#token", gw.admin);
    await page.click("#login button[type=submit]");
    await page.waitForSelector("#app:not([hidden])");
    expect(await page.$eval("#logout", (b) => getComputedStyle(b).display)).not.toBe("none");
    expect(page.url()).toBe(`${gw.url}/dashboard`);
    expect(await page.evaluate(() => sessionStorage.getItem("allot-admin-token"))).toBe(gw.admin);
  });

  it("shows each tenant's budget use as bars, with the requests the test sent", async () => {
    const row = `tr[data-tenant="${traffic.tenant.id}"]`;
    await page.waitForSelector(row);
    const bars = await page.$$eval(`${row} .bar`, (els) => els.map((e) => ({ window: (e as HTMLElement).dataset.window, text: e.textContent!.trim(), width: (e.querySelector("span") as HTMLElement).style.width })));
    expect(bars.map((b) => b.window)).toEqual(["hour", "day", "month"]);
    const usage = (await (await fetch(`${gw.url}/v1/usage`, { headers: { authorization: `Bearer ${traffic.tenant.key}` } })).json()) as { windows: { window: string; used: number }[] };
    const day = usage.windows.find((w) => w.window === "day")!.used;
    expect(day).toBeGreaterThan(0);
    expect(bars[1].text).toBe(`day: ${day} / 20000`);
    expect(parseFloat(bars[1].width)).toBeCloseTo((100 * day) / 20_000, 1);
    const requests = await page.$eval(`${row} td:nth-child(6)`, (td) => td.textContent!);
    const sent = traffic.sent[traffic.tenant.id];
    expect(requests).toContain(String(sent.ok + sent.refused + sent.rejected));
    // The 400s and 404s it answered before any work are counted too.
    expect(sent.rejected).toBeGreaterThan(0);
    expect(requests).toContain(`${sent.rejected} rejected (4xx)`);
    // Units as charged, rounded to hundredths: no float noise from summing 0.1-unit prefills.
    const charged = await page.$eval(`${row} td[data-units]`, (td) => ({ units: Number((td as HTMLElement).dataset.units), text: td.textContent! }));
    expect(charged.text).toMatch(/^\d+(\.\d{1,2})? online\d+(\.\d{1,2})? batch$/);
    expect(parseFloat(charged.text)).toBeCloseTo(charged.units, 2);
    // The small tenant's 429s.
    const other = await page.$eval(`tr[data-tenant="${traffic.other.id}"] td:nth-child(6)`, (td) => td.textContent!);
    expect(other).toContain(`${traffic.sent[traffic.other.id].refused} over budget (429)`);
    expect(traffic.sent[traffic.other.id].refused).toBeGreaterThan(0);
  });

  it("draws the chosen tenant's time series from its traffic, and what allot earned", async () => {
    await page.click(`tr[data-tenant="${traffic.tenant.id}"]`);
    await page.waitForFunction((id) => document.querySelector("#tenant-name")!.textContent!.includes(id), {}, traffic.tenant.id);
    await page.waitForSelector("#chart-requests canvas");
    await page.waitForSelector("#chart-added canvas");
    // The requests chart's points are the requests the test sent (ok + 429 + 5xx per minute).
    const plotted = await page.evaluate(() => {
      const u = (window as unknown as { allotConsole: { charts: { data: (number | null)[][]; series: { label: string }[] }[] } }).allotConsole.charts[0];
      return u.series.map((s, i) => ({ label: s.label, total: (u.data[i] as (number | null)[]).reduce((a: number, b) => a + (b ?? 0), 0) }));
    });
    expect(plotted.find((s) => s.label === "ok")!.total).toBe(traffic.sent[traffic.tenant.id].ok);
    expect(plotted.find((s) => s.label === "other 4xx")!.total).toBe(traffic.sent[traffic.tenant.id].rejected);
    // The time axis is fitted to the traffic (sent within a minute or two), not the whole last hour.
    const xs = await page.evaluate(() => (window as unknown as { allotConsole: { charts: { data: number[][] }[] } }).allotConsole.charts[0].data[0]);
    expect(xs.length).toBeLessThanOrEqual(6);
    expect(xs.at(-1)! - xs[0]).toBeLessThanOrEqual(6 * 60);
    // Each figure on its own chart and scale: units per prompt against the target in units; allot's latency apart from the LM's.
    const titles = await page.$$eval("#charts .u-title", (els) => els.map((e) => e.textContent));
    expect(titles).toEqual(expect.arrayContaining(["Units per prompt the price decided, and the target", "Samples and rounds per request served", "Latency added by allot (ms)", "Time in the LM (ms)"]));
    // Drawn: the canvas has the "ok" line's colour on it.
    const inked = await page.$eval("#chart-requests canvas", (c) => {
      const ctx = (c as HTMLCanvasElement).getContext("2d")!;
      const { data } = ctx.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height);
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (Math.abs(data[i] - 0x2b) < 8 && Math.abs(data[i + 1] - 0x7b) < 8 && Math.abs(data[i + 2] - 0xb9) < 8) n++;
      return n;
    });
    expect(inked).toBeGreaterThan(0);
    const earned = await page.$eval("#earned", (e) => e.textContent!);
    // The measured figure first; without audits it says how many there are of how many it takes.
    expect(earned).toMatch(/What allot earned, measured(:| on \d+ audited prompts)/);
    if (!/audited prompts/.test(earned)) expect(earned).toMatch(/too few audits to tell: \d+ of 30/);
    expect(earned).toMatch(/Predicted[\s\S]* over \d+ adaptive prompts/);
    // The calibration plot of the predictor that served them.
    await page.waitForSelector("#calibration [data-calibration] canvas");
  });

  it("counts routed prompts under the router per model, and draws the reliability plot from audits with prompts and intervals per bin", async () => {
    // Three routed requests a round, each one prompt.
    const routed = await page.$eval('tr[data-predictor="route"] td[data-served]', (td) => ({ n: Number((td as HTMLElement).dataset.served), text: td.textContent! }));
    expect(routed.n).toBe(9);
    expect(routed.text).toMatch(/(weak|strong): \d+ answered, \d+ samples/);
    type Report = { predictor: string; source: string; audited: { prompts: number; bins: { n: number }[] }; live: { prompts: number } };
    const report = await page.evaluate(() => (window as unknown as { allotConsole: { calibration: Report[] } }).allotConsole.calibration);
    // Every priced best-of-k prompt was audited (audit_rate 1): 13 a round, 39 in all, past the 30 it takes.
    const audited = report.find((r) => r.source === "audits")!;
    expect(audited.audited.prompts).toBeGreaterThanOrEqual(30);
    const shown = await page.$$eval(`#calibration [data-calibration="${audited.predictor}"] table.bins tbody tr`, (rows) => rows.map((r) => Number((r as HTMLElement).dataset.n)));
    expect(shown.reduce((s, n) => s + n, 0)).toBe(audited.audited.prompts);
    expect(await page.$eval(`#calibration [data-calibration="${audited.predictor}"]`, (el) => el.textContent!)).toMatch(/audited pass rate vs predicted \(\d+ audited prompts/);
    // The router is not audited: its plot is the live first samples, and says so.
    const route = await page.$eval('#calibration [data-calibration="route"]', (el) => ({ source: (el as HTMLElement).dataset.source, text: el.textContent! }));
    expect(route.source).toBe("live");
    expect(route.text).toMatch(/Not from audits: too few audits to tell: 0 of 30/);
  });

  it("shows the tenant's calibration learnt from its audits: the refit, whether it is served, the drift flag", async () => {
    type Status = { predictor: string; ece: number; drifted: boolean; applied: boolean; refit: { temperature: number; strength: number; audits: number; ece_before: number; ece_after: number }; history: unknown[] };
    const usage = (await (await fetch(`${gw.url}/v1/usage`, { headers: { authorization: `Bearer ${traffic.tenant.key}` } })).json()) as { calibration: Status[] };
    // 39 audits of the tenant's predictor: refitted once (at 30).
    expect(usage.calibration.length).toBeGreaterThan(0);
    const c = usage.calibration[0];
    const row = `#refits tr[data-refit="${c.predictor}"]`;
    await page.waitForSelector(row);
    const shown = await page.$eval(row, (tr) => {
      const cell = (k: string) => tr.querySelector(`[data-${k}]`)!.textContent!.trim();
      const d = (tr as HTMLElement).dataset;
      return { applied: d.applied, drifted: d.drifted, temperature: cell("temperature"), strength: cell("strength"), audits: cell("audits"), ece: cell("ece"), text: tr.textContent! };
    });
    expect(shown).toMatchObject({ applied: String(c.applied), drifted: String(c.drifted), temperature: c.refit.temperature.toFixed(3), strength: c.refit.strength.toFixed(1), audits: String(c.refit.audits) });
    expect(shown.ece).toBe(`${c.refit.ece_before.toFixed(3)} → ${c.refit.ece_after.toFixed(3)}`);
    // The default calibration ("audited") serves the refit.
    expect(c.applied).toBe(true);
    expect(shown.text).toContain("audited: the refit is served");
    expect(shown.text).toContain(c.history.length === 0 ? "none before" : `${c.history.length} earlier`);
  });

  it("opens a running batch and shows its progress moving until it is done", async () => {
    // A client's feedback on an answer it got: shown in the tenant's view at the next refresh.
    const auth = { authorization: `Bearer ${traffic.tenant.key}`, "content-type": "application/json" };
    const answer = (await (await fetch(`${gw.url}/v1/completions`, { method: "POST", headers: auth, body: JSON.stringify({ model: "strong", prompt: "12+34=", max_tokens: 8 }) })).json()) as { id: string };
    expect((await fetch(`${gw.url}/v1/feedback`, { method: "POST", headers: auth, body: JSON.stringify({ response_id: answer.id, reward: 1 }) })).status).toBe(200);
    proxy.delayMs = 120;
    const id = await submitBatch(gw, traffic.tenant.key, 96);
    // The list refreshes every 10 s; selecting the tenant again reloads it at once.
    await page.click(`tr[data-tenant="${traffic.tenant.id}"]`);
    await page.waitForSelector(`tr[data-batch="${id}"]`);
    await page.click(`tr[data-batch="${id}"]`);
    await page.waitForSelector("#batch:not([hidden]) #batch-progress em[data-done]");
    const seen: number[] = [];
    let status = "";
    for (let i = 0; i < 600 && status !== "done"; i++) {
      // Both in one read: the page renders them together, so they belong to the same poll.
      const now = await page.evaluate(() => ({
        done: Number((document.querySelector("#batch-progress em") as HTMLElement).dataset.done),
        status: document.querySelector("#batch-status")!.textContent!,
      }));
      if (seen.at(-1) !== now.done) seen.push(now.done);
      status = now.status;
      await new Promise((r) => setTimeout(r, 250));
    }
    proxy.delayMs = 0;
    expect(status).toBe("done");
    expect(seen.at(-1)).toBe(96);
    // It moved: more than one value was shown on the way, never backwards.
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
    await page.click("#show-results");
    await page.waitForFunction(() => document.querySelector("#batch-results")!.textContent!.includes('"id":"q0"'));
    // The batch's prompts are counted apart from the online ones once it has ended (the page refreshes every 10 s).
    const cell = `tr[data-tenant="${traffic.tenant.id}"] td[data-batch-prompts]`;
    await page.waitForFunction((sel) => Number((document.querySelector(sel) as HTMLElement | null)?.dataset.batchPrompts) === 96, { timeout: 20_000 }, cell);
    const prompts = await page.$eval(cell, (td) => ({ online: Number((td as HTMLElement).dataset.prompts), text: td.textContent! }));
    expect(prompts.online).toBeGreaterThan(0);
    expect(prompts.text).toMatch(/^\d+ online96 batch \(\d+ samples\)$/);
    // Refreshed with it, the feedback sent before the batch.
    await page.waitForFunction(() => (document.querySelector("#feedback [data-feedback-count]") as HTMLElement | null)?.dataset.feedbackCount === "1", { timeout: 20_000 });
    expect(await page.$eval("#feedback", (e) => e.textContent!)).toMatch(/1 answer rated, mean 1\.000: a signal for drift, not a label/);
  });

  it("/docs expands request fields, prefills an example body that the gateway accepts, and pretty-prints the answer", async () => {
    await page.goto(`${gw.url}/docs`);
    await page.waitForSelector("details.op");
    const op = async (method: string, path: string) => {
      const handles = await page.$$("details.op");
      for (const h of handles) {
        const head = await h.$eval("summary", (s) => s.textContent!);
        if (head.startsWith(method.toUpperCase() + path)) return h;
      }
      throw new Error(`no ${method} ${path}`);
    };
    const send = async (method: string, path: string, token: string) => {
      const el = await op(method, path);
      await el.$eval("summary", (s) => (s as HTMLElement).click());
      await page.$eval("#token", (i) => ((i as HTMLInputElement).value = ""));
      await page.type("#token", token);
      await el.$eval("button", (b) => (b as HTMLButtonElement).click());
      await page.waitForFunction((e) => (e as Element).querySelector(".out")!.textContent!.length > 0, {}, el);
      return { el, out: await el.$eval(".out", (o) => o.textContent!) };
    };
    const created = await send("post", "/admin/tenants", gw.admin);
    expect(created.out).toMatch(/^201 /);
    expect(created.out).toContain('\n  "name": "acme"'); // the example's name, pretty-printed
    const { el, out } = await send("post", "/v1/completions", traffic.tenant.key);
    expect(out).toMatch(/^200 /);
    expect(out).toContain('"object": "text_completion"');
    // The request's fields, expanded from its $ref.
    const fields = await el.$$eval("table.fields tbody tr td:first-child code", (cs) => cs.map((c) => c.textContent));
    expect(fields).toEqual(expect.arrayContaining(["prompt", "model", "temperature", "allot.units"]));
  });

  it("made no request outside the gateway", () => {
    expect(requested.length).toBeGreaterThan(5);
    for (const url of requested) expect(url.startsWith(gw.url + "/")).toBe(true);
  });
});

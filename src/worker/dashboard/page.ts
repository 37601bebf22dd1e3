/**
 * The console's HTML: a login form and the panels console.client.js fills in. Static (no
 * data in it, so it needs no token); the data routes behind it do.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>allot console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/dashboard/uplot.css">
<style>
:root{--ink:#1d2330;--mute:#6b7280;--line:#e3e6eb;--blue:#2b7bb9;--bg:#f7f8fa}
*{box-sizing:border-box} body{font:14px/1.45 system-ui,-apple-system,sans-serif;margin:0;color:var(--ink);background:var(--bg)}
header{display:flex;align-items:center;gap:1em;padding:.7em 1.4em;background:#1d2330;color:#fff}
header h1{font-size:18px;margin:0} header .sub{color:#aab;flex:1} header button[hidden]{display:none} header button{background:none;color:#fff;border:1px solid #556;border-radius:4px;padding:.25em .8em;cursor:pointer}
main{padding:1em 1.4em;max-width:1400px;margin:auto} section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:1em 1.2em;margin-bottom:1.2em}
h2{font-size:16px;margin:.1em 0 .7em} table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:.45em .6em;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--mute);font-size:12px;text-transform:uppercase;letter-spacing:.03em} tr[data-tenant],tr[data-batch]{cursor:pointer} tr.selected{background:#eef5fb}
code{font:12px ui-monospace,monospace} small{color:var(--mute)} code.revoked{text-decoration:line-through;color:var(--mute)}
.bars{min-width:220px} .bar{position:relative;height:18px;background:#edf0f3;border-radius:3px;margin:2px 0;overflow:hidden;min-width:140px}
.bar span{position:absolute;left:0;top:0;bottom:0;background:#9cc3e4} .bar em{position:relative;font:11px/18px ui-monospace,monospace;padding-left:6px;font-style:normal}
.bar.big{height:26px} .bar.big em{line-height:26px;font-size:13px}
#charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(430px,1fr));gap:.6em} .chart{min-width:320px}
#calibration{display:flex;flex-wrap:wrap;gap:1em} #calibration .chart{max-width:540px} table.bins{width:auto;font:12px ui-monospace,monospace} table.bins td,table.bins th{padding:.15em .6em} .note{margin:.3em 0}
.status{font:600 11px ui-monospace,monospace;padding:2px 6px;border-radius:4px;background:#edf0f3} .status.done{background:#d8f0e0} .status.failed{background:#f6d6d2} .status.sampling,.status.predicting{background:#fdf0cc}
.steps button{border:1px solid var(--line);background:#fff;padding:.2em .8em;border-radius:4px;cursor:pointer} .steps button.on{background:var(--blue);color:#fff;border-color:var(--blue)}
#earned{background:#f3f8f3;border-left:4px solid #2e9b5f;padding:.6em .8em;margin:.8em 0}
#login{max-width:380px;margin:5em auto;background:#fff;border:1px solid var(--line);border-radius:8px;padding:1.5em}
#login input{width:100%;padding:.5em;font:14px ui-monospace,monospace;margin:.5em 0} #login button{padding:.5em 1.4em}
.error{color:#c0392b} pre{background:var(--bg);padding:.6em;max-height:16em;overflow:auto;font-size:12px}
.row{display:flex;gap:1em;align-items:baseline;flex-wrap:wrap}
</style></head><body>
<header><h1>allot</h1><span class="sub">operator's console</span><button id="logout" type="button" hidden>Log out</button></header>
<form id="login" hidden>
  <h2>Log in</h2>
  <p>The gateway's admin token (the ADMIN_TOKEN secret). It is kept in this tab's session storage only.</p>
  <label for="token">Admin token</label><input id="token" type="password" autocomplete="current-password" required>
  <button type="submit">Log in</button><p id="login-error" class="error"></p>
</form>
<main id="app" hidden>
  <p id="error" class="error"></p>
  <section><h2>Tenants (<span id="tenant-count">0</span>)</h2>
    <table id="tenants"><thead><tr><th>Tenant</th><th>Budget use per window</th><th>Target</th><th>Price</th><th>Mean units</th><th>Requests</th><th>Prompts served</th><th>Units</th><th>Quality gain</th><th>Keys</th></tr></thead><tbody></tbody></table>
  </section>
  <section><div class="row"><h2>Over time: <span id="tenant-name"></span></h2>
    <span class="steps"><button type="button" data-step="minute" class="on">last hour, per minute</button> <button type="button" data-step="hour">last day, per hour</button></span></div>
    <div id="earned"></div><div id="refits"></div><div id="feedback"></div><div id="charts"></div>
  </section>
  <section><h2>Batches</h2>
    <table id="batches"><thead><tr><th>Batch</th><th>Status</th><th>Progress</th><th>Units used / budget</th><th>Mode</th><th>Quality gain</th></tr></thead><tbody></tbody></table>
    <div id="batch" hidden><h2>Batch <code id="batch-id"></code>: <span id="batch-status"></span></h2>
      <div id="batch-progress"></div><p id="batch-alloc"></p><button id="show-results" type="button">Show results</button><pre id="batch-results"></pre></div>
  </section>
  <section><h2>Predictors and routers</h2>
    <table id="predictors"><thead><tr><th>Name</th><th>LM</th><th>Reward</th><th>Spearman (validation / test)</th><th>ECE (validation / test)</th><th>Compute saved at B = 4 (test): one round / waves or cascade</th><th>Prompts served: online / batch (a router: per model)</th></tr></thead><tbody></tbody></table>
    <div id="calibration"></div>
  </section>
</main>
<script src="/dashboard/uplot.js"></script>
<script src="/dashboard/console.js"></script>
</body></html>`;

import { Hono } from "hono";
import docsJs from "../dashboard/docs.client.js";
import type { AppEnv } from "../env.js";

/**
 * GET /docs: an interactive API reference rendered in the browser from /openapi.json
 * (docs.client.js): fields of every request and response, an example body for every
 * operation, and a Send button. Self-contained (no CDN), so it works wherever the gateway
 * does, offline too; its CSP keeps it on this origin.
 */
const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>allot API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:1080px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h4{margin:.9em 0 .3em} .op{border:1px solid #ddd;border-radius:6px;margin:.6em 0}
summary{cursor:pointer;padding:.5em .8em;display:flex;gap:.8em;align-items:baseline}
.m{font:600 12px monospace;padding:2px 6px;border-radius:4px;color:#fff;min-width:3.5em;text-align:center}
.get{background:#2b7bb9}.post{background:#2e9b5f}.put{background:#b98a2b}.delete{background:#c0392b}
code,pre,textarea,input{font:13px ui-monospace,monospace} pre{background:#f6f6f6;padding:.6em;overflow:auto;max-height:24em}
.body{padding:0 1em 1em} textarea{width:100%;height:12em} label{display:block;margin:.2em 0} input{width:60%}
button{margin-top:.6em;padding:.3em 1em} table.fields{border-collapse:collapse;width:100%;font-size:13px}
.fields td,.fields th{border-bottom:1px solid #eee;padding:.25em .5em;text-align:left;vertical-align:top} .resp{margin:.3em 0}
.resp details summary{display:inline;padding:0;font-size:13px;color:#555}
</style></head><body>
<h1>allot API</h1><p id="desc"></p>
<p>Also: the <a href="/dashboard">operator's console</a>, and <a href="/openapi.json">openapi.json</a>.</p>
<label>Bearer token (API key or admin token): <input id="token" placeholder="ak_…" autocomplete="off"></label>
<div id="ops">Loading /openapi.json…</div>
<script src="/docs/docs.js"></script>
</body></html>`;

const CSP = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

export const docs = new Hono<AppEnv>()
  .get("/docs", (c) => c.body(page, 200, { "content-type": "text/html; charset=utf-8", "content-security-policy": CSP }))
  .get("/docs/docs.js", (c) => c.body(docsJs, 200, { "content-type": "text/javascript; charset=utf-8", "content-security-policy": CSP }));

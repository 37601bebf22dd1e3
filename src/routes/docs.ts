import { Hono } from "hono";
import type { AppEnv } from "../env.js";

/**
 * GET /docs: an interactive API reference rendered in the browser from /openapi.json.
 * Self-contained (no CDN scripts), so it works wherever the gateway does, offline too.
 */
const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>allot API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} .op{border:1px solid #ddd;border-radius:6px;margin:.6em 0}
summary{cursor:pointer;padding:.5em .8em;display:flex;gap:.8em;align-items:baseline}
.m{font:600 12px monospace;padding:2px 6px;border-radius:4px;color:#fff;min-width:3.5em;text-align:center}
.get{background:#2b7bb9}.post{background:#2e9b5f}.put{background:#b98a2b}.delete{background:#c0392b}
code,pre,textarea,input{font:13px monospace} pre{background:#f6f6f6;padding:.6em;overflow:auto;max-height:24em}
.body{padding:0 1em 1em} textarea{width:100%;height:8em} input{width:100%}
button{margin-top:.4em;padding:.3em 1em}
</style></head><body>
<h1>allot API</h1><p id="desc"></p>
<label>Bearer token (API key or admin token): <input id="token" placeholder="ak_…"></label>
<div id="ops">Loading /openapi.json…</div>
<script>
const esc = (s) => String(s).replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]);
fetch("/openapi.json").then((r) => r.json()).then((doc) => {
  document.getElementById("desc").textContent = doc.info.description || "";
  const ops = document.getElementById("ops");
  ops.innerHTML = "";
  for (const [path, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) {
    const el = document.createElement("details");
    el.className = "op";
    const body = op.requestBody?.content?.["application/json"]?.schema;
    const params = (op.parameters || []).map((p) => p.name);
    el.innerHTML = "<summary><span class='m " + method + "'>" + method.toUpperCase() + "</span><code>" + esc(path) +
      "</code><span>" + esc(op.summary || "") + "</span></summary><div class='body'>" +
      (op.description ? "<p>" + esc(op.description) + "</p>" : "") +
      params.map((n) => "<label>" + esc(n) + " <input data-param='" + esc(n) + "'></label>").join("") +
      (body ? "<p>Request body</p><pre>" + esc(JSON.stringify(body, null, 1)) + "</pre><textarea></textarea>" : "") +
      "<p>Responses</p><pre>" + esc(JSON.stringify(op.responses, null, 1)) + "</pre>" +
      "<button>Send</button><pre class='out'></pre></div>";
    el.querySelector("button").onclick = async () => {
      let url = path;
      el.querySelectorAll("[data-param]").forEach((i) => (url = url.replace("{" + i.dataset.param + "}", encodeURIComponent(i.value))));
      const headers = { "content-type": "application/json" };
      const token = document.getElementById("token").value.trim();
      if (token) headers.authorization = "Bearer " + token;
      const ta = el.querySelector("textarea");
      const res = await fetch(url, { method: method.toUpperCase(), headers, body: ta ? ta.value : undefined });
      el.querySelector(".out").textContent = res.status + " " + res.statusText + "\\n\\n" + (await res.text());
    };
    ops.appendChild(el);
  }
});
</script></body></html>`;

export const docs = new Hono<AppEnv>().get("/docs", (c) => c.html(page));

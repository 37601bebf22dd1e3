// GET /docs in the browser: the API reference rendered from /openapi.json, with every
// request schema expanded into its fields (type, constraints, default, description), an
// example body prefilled for each operation (the schema's example, else one built from
// its fields), and responses pretty-printed. "Send" calls this gateway only.
(() => {
  "use strict";
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  let doc = null;

  /** A schema with its $ref followed (components/schemas). */
  function deref(s) {
    let seen = 0;
    while (s && s.$ref && seen++ < 20) s = doc.components.schemas[s.$ref.split("/").pop()];
    return s || {};
  }

  const nonNull = (list) => list.map(deref).filter((x) => x.type !== "null");

  function typeOf(s) {
    s = deref(s);
    if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
    if (s.const !== undefined) return JSON.stringify(s.const);
    const alts = s.anyOf || s.oneOf;
    if (alts) return alts.map(typeOf).join(" | ");
    if (s.type === "array") return typeOf(s.items || {}) + "[]";
    return s.type || "any";
  }

  function constraints(s) {
    s = deref(s);
    const c = [];
    for (const [k, label] of [["minimum", "≥"], ["exclusiveMinimum", ">"], ["maximum", "≤"], ["exclusiveMaximum", "<"]]) if (s[k] !== undefined) c.push(`${label} ${s[k]}`);
    if (s.minLength !== undefined) c.push(`length ≥ ${s.minLength}`);
    if (s.maxLength !== undefined) c.push(`length ≤ ${s.maxLength}`);
    if (s.minItems !== undefined) c.push(`items ≥ ${s.minItems}`);
    if (s.maxItems !== undefined) c.push(`items ≤ ${s.maxItems}`);
    if (s.pattern) c.push(`pattern ${s.pattern}`);
    if (s.format) c.push(s.format);
    return c.join(", ");
  }

  /** The fields of an object schema as table rows, nested objects indented (to `depth`). */
  function fields(s, prefix = "", depth = 0) {
    s = deref(s);
    const alts = s.anyOf || s.oneOf;
    if (alts) s = nonNull(alts).find((x) => x.type === "object") || s;
    if (s.type === "array" && deref(s.items).type === "object") return fields(s.items, prefix + "[]", depth);
    if (s.type !== "object" || !s.properties) return "";
    const required = new Set(s.required || []);
    return Object.entries(s.properties)
      .map(([name, raw]) => {
        const p = deref(raw);
        const row = `<tr><td><code>${esc(prefix + name)}</code>${required.has(name) ? " <b title='required'>*</b>" : ""}</td><td><code>${esc(typeOf(p))}</code></td>
          <td>${esc(constraints(p))}</td><td>${p.default !== undefined ? `<code>${esc(JSON.stringify(p.default))}</code>` : ""}</td><td>${esc(p.description || raw.description || "")}</td></tr>`;
        const inner = depth < 3 ? fields(p, prefix + name + ".", depth + 1) : "";
        return row + inner;
      })
      .join("");
  }

  function table(s) {
    const rows = fields(s);
    return rows ? `<table class="fields"><thead><tr><th>field</th><th>type</th><th>constraints</th><th>default</th><th>description</th></tr></thead><tbody>${rows}</tbody></table>` : `<p><code>${esc(typeOf(s))}</code></p>`;
  }

  /** An example value: the schema's own, else its default, else one built from its type (required fields only). */
  function example(raw, depth = 0) {
    const s = deref(raw);
    if (s.example !== undefined) return s.example;
    if (s.examples && s.examples.length) return s.examples[0];
    if (s.default !== undefined) return s.default;
    if (s.const !== undefined) return s.const;
    if (s.enum) return s.enum[0];
    const alts = s.anyOf || s.oneOf;
    if (alts) return example(nonNull(alts)[0] || {}, depth);
    if (depth > 4) return null;
    switch (s.type) {
      case "object": {
        const out = {};
        const req = new Set(s.required || []);
        for (const [k, v] of Object.entries(s.properties || {})) if (req.has(k)) out[k] = example(v, depth + 1);
        return out;
      }
      case "array":
        return [example(s.items || {}, depth + 1)];
      case "integer":
        return s.minimum !== undefined ? Math.max(s.minimum, 1) : 1;
      case "number":
        return s.minimum !== undefined ? Math.max(s.minimum, 1) : 1;
      case "boolean":
        return false;
      case "string":
        return s.format === "date-time" ? new Date().toISOString() : "string";
      default:
        return null;
    }
  }

  function responses(op) {
    return Object.entries(op.responses || {})
      .map(([status, r]) => {
        const content = r.content || {};
        const [type, media] = Object.entries(content)[0] || [];
        const body = media ? `<details><summary>${esc(type)}</summary>${table(media.schema || {})}<pre>${esc(type.includes("json") ? JSON.stringify(example(media.schema || {}), null, 2) : "")}</pre></details>` : "";
        return `<div class="resp"><b>${esc(status)}</b> ${esc(r.description || "")}${body}</div>`;
      })
      .join("");
  }

  function render() {
    document.getElementById("desc").textContent = doc.info.description || "";
    const ops = document.getElementById("ops");
    ops.innerHTML = "";
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item)) {
        const el = document.createElement("details");
        el.className = "op";
        const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
        const params = op.parameters || [];
        el.innerHTML =
          `<summary><span class="m ${method}">${method.toUpperCase()}</span><code>${esc(path)}</code><span>${esc(op.summary || "")}</span></summary><div class="body">` +
          (op.description ? `<p>${esc(op.description)}</p>` : "") +
          (params.length
            ? `<h4>Parameters</h4>` +
              params
                .map((p) => `<label>${esc(p.name)} <small>(${esc(p.in)}${p.required ? ", required" : ""}; ${esc(typeOf(p.schema || {}))})</small> <input data-param="${esc(p.name)}" data-in="${esc(p.in)}" value="${esc(p.schema && p.schema.example !== undefined ? p.schema.example : "")}"></label>`)
                .join("")
            : "") +
          (body ? `<h4>Request body</h4>${table(body.schema)}<textarea spellcheck="false"></textarea>` : "") +
          `<h4>Responses</h4>${responses(op)}<button type="button">Send</button><pre class="out"></pre></div>`;
        if (body) el.querySelector("textarea").value = JSON.stringify(example(body.schema), null, 2);
        el.querySelector("button").onclick = async () => {
          let url = path;
          const query = new URLSearchParams();
          el.querySelectorAll("[data-param]").forEach((i) => {
            if (i.dataset.in === "path") url = url.replace("{" + i.dataset.param + "}", encodeURIComponent(i.value));
            else if (i.value !== "") query.set(i.dataset.param, i.value);
          });
          if ([...query].length) url += "?" + query;
          const headers = { "content-type": "application/json" };
          const token = document.getElementById("token").value.trim();
          if (token) headers.authorization = "Bearer " + token;
          const ta = el.querySelector("textarea");
          const res = await fetch(url, { method: method.toUpperCase(), headers, body: ta ? ta.value : undefined });
          const text = await res.text();
          let shown = text;
          try {
            shown = JSON.stringify(JSON.parse(text), null, 2);
          } catch {
            /* not JSON: as it came */
          }
          el.querySelector(".out").textContent = `${res.status} ${res.statusText}\n\n${shown}`;
        };
        ops.appendChild(el);
      }
  }

  fetch("/openapi.json")
    .then((r) => r.json())
    .then((d) => {
      doc = d;
      render();
    });
})();

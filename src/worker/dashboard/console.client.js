// The operator's console, in the browser. Everything it shows comes from the gateway's own
// admin routes (GET /admin/tenants, /admin/tenants/{id}/usage, /admin/tenants/{id}/batches,
// /admin/predictors), read with the admin token the login form keeps in sessionStorage
// (this tab only, never in a URL). Charts are uPlot, served by the Worker at
// /dashboard/uplot.js. No request leaves the gateway's origin (the page's CSP forbids it).
(() => {
  "use strict";
  const KEY = "allot-admin-token";
  const $ = (sel, el = document) => el.querySelector(sel);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const fmt = (x, digits = 2) => (x === null || x === undefined ? "—" : Number(x).toFixed(digits));
  // Units summed over many requests carry float noise (0.1 prefills): two decimals at most, no trailing zeros.
  const units = (x) => String(Math.round(x * 100) / 100);
  const pct = (x) => (x === null || x === undefined ? "—" : (100 * x).toFixed(1) + "%");
  const state = { token: sessionStorage.getItem(KEY), tenant: null, step: "minute", tenants: [], charts: [], calCharts: [], calibration: [], batch: null, timers: [] };
  // The console's state, charts included, for tests and the curious (the browser's devtools).
  window.allotConsole = state;

  async function api(path) {
    const res = await fetch(path, { headers: { authorization: "Bearer " + state.token } });
    if (res.status === 401) {
      logout("The admin token was refused.");
      throw new Error("unauthorized");
    }
    const body = res.headers.get("content-type")?.startsWith("application/json") ? await res.json() : await res.text();
    if (!res.ok) throw new Error((body && body.error && body.error.message) || res.status + " " + res.statusText);
    return body;
  }

  function logout(why) {
    sessionStorage.removeItem(KEY);
    state.token = null;
    state.timers.forEach(clearInterval);
    state.timers = [];
    $("#app").hidden = true;
    $("#logout").hidden = true;
    $("#login").hidden = false;
    $("#login-error").textContent = why || "";
  }

  async function login(token) {
    state.token = token;
    try {
      await api("/admin/tenants?limit=1");
    } catch (e) {
      if (e.message !== "unauthorized") $("#login-error").textContent = e.message;
      return;
    }
    sessionStorage.setItem(KEY, token);
    $("#login").hidden = true;
    $("#app").hidden = false;
    $("#logout").hidden = false;
    await refresh();
    state.timers.push(setInterval(() => refresh().catch(showError), 10_000));
  }

  function showError(e) {
    if (e.message !== "unauthorized") $("#error").textContent = e.message;
  }

  async function refresh() {
    $("#error").textContent = "";
    // Every tenant, 100 a page (each page reads 100 ledgers), up to 1,000.
    const tenants = [];
    for (let after = null, n = 0; n < 10; n++) {
      const page = await api("/admin/tenants?limit=100" + (after ? "&after=" + after : ""));
      tenants.push(...page.data);
      if (!page.has_more) break;
      after = page.last_id;
    }
    state.tenants = tenants;
    renderTenants();
    if (!state.tenant && state.tenants.length > 0) state.tenant = state.tenants[0].id;
    await Promise.all([state.tenant ? renderTenant() : null, renderPredictors()]);
  }

  // ---- tenants

  function bar(w) {
    const share = w.limit ? Math.min(1, (w.used + w.reserved) / w.limit) : 0;
    const title = w.limit === null ? `${w.used} used, no limit` : `${w.used} used + ${w.reserved} reserved of ${w.limit}`;
    return `<div class="bar" title="${esc(title)}" data-window="${w.window}"><span style="width:${(100 * share).toFixed(1)}%"></span>
      <em>${w.window}: ${w.used}${w.limit === null ? "" : " / " + w.limit}</em></div>`;
  }

  function renderTenants() {
    const rows = state.tenants.map((t) => `<tr data-tenant="${esc(t.id)}" class="${t.id === state.tenant ? "selected" : ""}">
      <td><b>${esc(t.name)}</b><br><code>${esc(t.id)}</code></td>
      <td class="bars">${t.usage.map(bar).join("")}</td>
      <td>${fmt(t.online.target_units, 1)}</td><td>${fmt(t.online.price, 4)}</td><td>${fmt(t.online.mean_units)}</td>
      <td>${t.totals.requests}<br><small data-outcomes>${t.totals.refused} over budget (429) · ${t.totals.rejected} rejected (4xx) · ${t.totals.failed} failed (5xx)</small></td>
      <td data-prompts="${t.totals.prompts}" data-batch-prompts="${t.totals.batch_prompts}">${t.totals.prompts} online<br><small>${t.totals.batch_prompts} batch (${t.totals.batch_samples} samples)</small></td>
      <td data-units="${t.totals.units}">${units(t.totals.units)} online<br><small>${units(t.totals.batch_units)} batch</small></td>
      <td>${t.earned ? `${fmt(t.earned.gain, 3)}<br><small>saved ${pct(t.earned.saved)}, predicted</small>` : "—"}</td>
      <td>${t.keys.map((k) => `<code class="${k.revoked ? "revoked" : ""}">${esc(k.id)}</code>`).join(" ")}</td></tr>`);
    $("#tenants tbody").innerHTML = rows.join("") || `<tr><td colspan="10">No tenants yet: POST /admin/tenants creates one.</td></tr>`;
    $("#tenant-count").textContent = String(state.tenants.length);
  }

  // ---- one tenant over time

  const palette = ["#2b7bb9", "#2e9b5f", "#c0392b", "#b98a2b", "#8e44ad", "#7f8c8d"];

  function chart(el, title, points, series, opts = {}) {
    const xs = points.map((p) => Date.parse(p.t) / 1000);
    const data = [xs, ...series.map((s) => points.map(s.value))];
    const width = Math.max(320, el.clientWidth - 8);
    const u = new uPlot(
      {
        title,
        width,
        height: 190,
        scales: { x: { time: true }, ...(opts.scales || {}) },
        axes: [{}, { size: 56 }, ...(opts.axes || [])],
        series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: s.color || palette[i % palette.length], width: 2, scale: s.scale || "y", spanGaps: false, points: { size: 4 } }))],
      },
      data,
      el,
    );
    state.charts.push(u);
    return u;
  }

  /**
   * The points worth drawing: from the first bucket with traffic to the last (one empty
   * bucket either side, at least 6 in all), so a fresh install's minutes are not squeezed
   * into the right edge of an hour. Nothing at all: every point (an empty chart).
   */
  function fitted(points) {
    const busy = (p) => p.requests > 0 || p.batch_units > 0 || p.batch_prompts > 0 || p.audits > 0;
    const first = points.findIndex(busy);
    if (first < 0) return points;
    let last = points.length - 1;
    while (!busy(points[last])) last--;
    let from = Math.max(0, first - 1);
    const to = Math.min(points.length, last + 2);
    from = Math.max(0, Math.min(from, to - 6));
    return points.slice(from, to);
  }

  async function renderTenant() {
    const id = state.tenant;
    const t = state.tenants.find((x) => x.id === id);
    $("#tenant-name").textContent = t ? `${t.name} (${t.id})` : id;
    const usage = await api(`/admin/tenants/${id}/usage?step=${state.step}`);
    state.charts.forEach((c) => c.destroy());
    state.charts = [];
    const box = $("#charts");
    box.innerHTML = ["requests", "prompts", "units", "decided", "samples", "price", "added", "lm"].map((k) => `<div class="chart" id="chart-${k}"></div>`).join("");
    const p = fitted(usage.points);
    chart($("#chart-requests"), "Requests per " + state.step, p, [
      { label: "ok", value: (x) => x.ok },
      { label: "429 (over budget)", value: (x) => x.refused, color: "#b98a2b" },
      { label: "other 4xx", value: (x) => x.rejected, color: "#e67e22" },
      { label: "5xx", value: (x) => x.failed, color: "#c0392b" },
      { label: "LM errors", value: (x) => x.lm_errors, color: "#8e44ad" },
      { label: "LM retries", value: (x) => x.lm_retries, color: "#7f8c8d" },
    ]);
    // Batches' prompts are counted when their batch ends; their units as they are charged.
    chart($("#chart-prompts"), "Prompts served", p, [
      { label: "online", value: (x) => x.prompts },
      { label: "batch", value: (x) => x.batch_prompts },
    ]);
    chart($("#chart-units"), "Units charged", p, [
      { label: "online", value: (x) => x.units },
      { label: "batches", value: (x) => x.batch_units },
    ]);
    // The target is in units the price decides per prompt (a routed sample of the strong model costs 3): plotted against that, not samples.
    chart($("#chart-decided"), "Units per prompt the price decided, and the target", p, [
      { label: "units / prompt", value: (x) => x.units_per_prompt },
      { label: "target (units / prompt)", value: (x) => x.target, color: "#c0392b" },
    ]);
    chart($("#chart-samples"), "Samples and rounds per request served", p, [
      { label: "samples / request", value: (x) => x.samples_per_request },
      { label: "rounds / request", value: (x) => x.rounds_per_request },
    ]);
    chart($("#chart-price"), "Price (reward per unit)", p, [{ label: "price", value: (x) => x.price }]);
    // Each on its own scale: the LM's seconds would flatten allot's milliseconds onto zero.
    chart($("#chart-added"), "Latency added by allot (ms)", p, [
      { label: "p50", value: (x) => x.added_ms.p50 },
      { label: "p99", value: (x) => x.added_ms.p99 },
    ]);
    chart($("#chart-lm"), "Time in the LM (ms)", p, [
      { label: "p50", value: (x) => x.lm_ms.p50, color: "#8e44ad" },
      { label: "p99", value: (x) => x.lm_ms.p99, color: "#7f8c8d" },
    ]);
    // The audited figure first (measured, with its interval); the prediction after it, labelled so.
    const a = usage.earned.audited;
    const audits = usage.earned.audits;
    const ci = (c) => (c ? `${pct(c[0])} to ${pct(c[1])}` : "—");
    const measured = a
      ? `<p data-audited><b>What allot earned, measured</b> on ${a.prompts} audited prompts in this range: <b>${pct(a.saved)}</b> of the compute saved${a.beyond_audit_size ? " (at least)" : ""}
         (95% interval ${ci(a.saved_ci95)}); quality <b>${fmt(a.quality, 3)}</b> at ${fmt(a.mean_units)} units a prompt against uniform best-of-k's ${fmt(a.uniform_quality, 3)} at the same spend
         (gain <b>${fmt(a.gain, 3)}</b>, 95% interval ${fmt(a.gain_ci95[0], 3)} to ${fmt(a.gain_ci95[1], 3)}). Audits drew ${fmt(audits.units, 0)} units beyond allot's own: the cost of proof, not charged to the tenant.</p>`
      : `<p data-audited><b>What allot earned, measured:</b> ${esc(audits.note ?? "no audits")}. Until then only the prediction below is shown.</p>`;
    const e = usage.earned.predicted;
    const predicted = e
      ? `<p data-predicted><small><b>Predicted</b> (from the predictor's own curves, as good as its calibration on this traffic) over ${e.prompts} adaptive prompts: quality ${fmt(e.quality, 3)} at ${fmt(e.mean_units)} units a prompt;
         uniform at the same spend ${fmt(e.uniform_quality, 3)} (gain <span data-gain>${fmt(e.gain, 3)}</span> ± ${fmt(e.quality_se, 3)}, one standard error);
         uniform would need ${e.uniform_units === null ? "more than 32" : fmt(e.uniform_units)} units a prompt: ${pct(e.saved)} saved.</small></p>`
      : "<p data-predicted><small>No adaptive requests in this range yet.</small></p>";
    $("#earned").innerHTML = measured + predicted;
    renderRefits(t);
    renderFeedback(t);
    await renderBatches();
  }

  // ---- calibration learnt from the tenant's audits

  /**
   * Per predictor refitted on the tenant's audits: the refit (temperature, prior strength,
   * audits, ECE before → after, when), whether it is served (the tenant's calibration
   * "audited") or not ("shipped"), the drift flag, and the refits before it.
   */
  function renderRefits(t) {
    const list = (t && t.audited_calibration) || [];
    const ece = (r) => `${fmt(r.ece_before, 3)} → ${fmt(r.ece_after, 3)}`;
    const when = (at) => esc(at.replace("T", " ").slice(0, 19));
    const rows = list.map((c) => {
      const r = c.refit;
      const history = c.history.length
        ? `<details><summary>${c.history.length} earlier</summary><table class="bins"><thead><tr><th>when</th><th>T</th><th>strength</th><th>audits</th><th>ECE before → after</th></tr></thead><tbody>` +
          c.history.map((h) => `<tr data-history><td>${when(h.at)}</td><td>${fmt(h.temperature, 3)}</td><td>${fmt(h.strength, 1)}</td><td>${h.audits}</td><td>${ece(h)}</td></tr>`).join("") +
          "</tbody></table></details>"
        : "<small>none before</small>";
      return `<tr data-refit="${esc(c.predictor)}" data-applied="${c.applied}" data-drifted="${c.drifted}"><td><b>${esc(c.predictor)}</b></td>
        <td data-temperature>${fmt(r.temperature, 3)}</td><td data-strength>${fmt(r.strength, 1)}</td><td data-audits>${r.audits}</td><td data-ece>${ece(r)}</td><td>${when(r.at)}</td>
        <td>${c.applied ? "audited: the refit is served" : "shipped: served as published"}</td>
        <td>${c.drifted ? `<b class="error">drifted</b> (ECE served ${fmt(c.ece, 3)})` : `no (ECE served ${fmt(c.ece, 3)})`}</td><td>${history}</td></tr>`;
    });
    $("#refits").innerHTML = list.length
      ? `<h3>Calibration learnt from this tenant's audits</h3><table id="refit-table"><thead><tr><th>Predictor</th><th>Temperature</th><th>Prior strength</th><th>Audits used</th><th>ECE before → after</th><th>Refitted</th><th>Calibration</th><th>Drifted (ECE > 0.05)</th><th>History</th></tr></thead><tbody>${rows.join("")}</tbody></table>`
      : `<p data-refits-none><small>No refit yet: a predictor is refitted on this tenant's audits once it has 30.</small></p>`;
  }

  /**
   * Clients' feedback (POST /v1/feedback): a signal, not a label (each rated answer is the
   * sample allot selected); on audited prompts, against the verifier's reward of the same answers.
   */
  function renderFeedback(t) {
    const f = t && t.feedback;
    if (!f || f.count === 0) {
      $("#feedback").innerHTML = "<p data-feedback><small>No client feedback yet (POST /v1/feedback).</small></p>";
      return;
    }
    const a = f.audited;
    const audited = a.count
      ? ` On the <span data-feedback-audited="${a.count}">${a.count}</span> audited prompts among them: clients ${fmt(a.mean_feedback, 3)}, the verifier ${fmt(a.mean_reward, 3)} for the same answers
         (the prompts' pass rate over their audit sets: ${fmt(a.mean_pass_rate, 3)}); they agree (both above or both below 0.5) on ${pct(a.agreement)}.`
      : " None of them is on an audited prompt yet.";
    $("#feedback").innerHTML = `<p data-feedback><b>Client feedback:</b> <span data-feedback-count="${f.count}">${f.count}</span> answer${f.count === 1 ? "" : "s"} rated, mean ${fmt(f.mean_reward, 3)}: a signal for drift, not a label (each is the answer allot selected).${audited}</p>`;
  }

  // ---- batches

  async function renderBatches() {
    const id = state.tenant;
    const list = await api(`/admin/tenants/${id}/batches?limit=20`);
    $("#batches tbody").innerHTML =
      list.data
        .map((b) => {
          const done = b.progress.sampled + b.progress.failed;
          const mix = b.allocation && b.allocation.models ? Object.entries(b.allocation.models).map(([m, n]) => `${esc(m)} ${n}`).join(", ") : "";
          return `<tr data-batch="${esc(b.id)}" class="${b.id === state.batch ? "selected" : ""}"><td><code>${esc(b.id)}</code><br><small>${esc(b.created_at)}</small></td>
            <td><span class="status ${esc(b.status)}">${esc(b.status)}</span></td>
            <td><div class="bar"><span style="width:${((100 * done) / b.prompts).toFixed(1)}%"></span><em>${done} / ${b.prompts}</em></div></td>
            <td>${b.allocation ? `${b.allocation.units_used} / ${b.allocation.budget_units}` : "—"}</td>
            <td>${esc(b.mode)}${b.allocation ? " · " + esc(b.allocation.mode) : ""}${mix ? "<br><small>" + mix + "</small>" : ""}</td>
            <td>${b.earned ? `${fmt(b.earned.gain, 3)}<br><small>saved ${pct(b.earned.saved)}</small>` : "—"}</td></tr>`;
        })
        .join("") || `<tr><td colspan="6">No batches.</td></tr>`;
    return state.batch ? renderBatch() : null;
  }

  async function renderBatch() {
    const b = await api(`/admin/tenants/${state.tenant}/batches/${state.batch}`);
    const done = b.progress.sampled + b.progress.failed;
    $("#batch").hidden = false;
    $("#batch-id").textContent = b.id;
    $("#batch-status").textContent = b.status;
    $("#batch-progress").innerHTML = `<div class="bar big"><span style="width:${((100 * done) / b.prompts).toFixed(1)}%"></span><em data-done="${done}">${done} / ${b.prompts} prompts (${b.progress.failed} failed)</em></div>`;
    $("#batch-alloc").textContent = b.allocation
      ? `${b.allocation.mode}: ${b.allocation.units_used} of ${b.allocation.budget_units} units used, ${b.allocation.allocated_units} allocated; predictor ${b.allocation.predictor || "—"}; ${b.allocation.shards} shard(s)`
      : "predicting…";
    return b;
  }

  async function openBatch(id) {
    state.batch = id;
    clearInterval(state.batchTimer);
    const b = await renderBatch();
    $("#batch-results").textContent = "";
    // Live progress while it runs.
    if (!["done", "failed", "cancelled"].includes(b.status)) {
      // The list's row moves too (renderBatches re-renders the open batch).
      state.batchTimer = setInterval(async () => {
        const now = await renderBatches().catch(showError);
        if (!now || ["done", "failed", "cancelled"].includes(now.status)) clearInterval(state.batchTimer);
      }, 1000);
    }
  }

  // ---- predictors

  /**
   * Draws each bin's 95% interval as a vertical bar and its prompts beside its point
   * (uPlot plugin: on the canvas, after the series).
   */
  function binsPlugin(bins) {
    return {
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            ctx.setLineDash([]);
            ctx.strokeStyle = "#2b7bb9";
            ctx.fillStyle = "#1d2330";
            ctx.lineWidth = 1.5 * devicePixelRatio;
            ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
            for (const b of bins) {
              const x = u.valToPos(b.predicted, "x", true);
              const lo = u.valToPos(b.ci95[0], "y", true);
              const hi = u.valToPos(b.ci95[1], "y", true);
              ctx.beginPath();
              ctx.moveTo(x, lo);
              ctx.lineTo(x, hi);
              ctx.moveTo(x - 4 * devicePixelRatio, lo);
              ctx.lineTo(x + 4 * devicePixelRatio, lo);
              ctx.moveTo(x - 4 * devicePixelRatio, hi);
              ctx.lineTo(x + 4 * devicePixelRatio, hi);
              ctx.stroke();
              ctx.fillText(String(b.n), x + 6 * devicePixelRatio, u.valToPos(b.observed, "y", true) - 4 * devicePixelRatio);
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  /** Per model, the prompts `name` decided over every tenant (`key`: "served" online, "batch_served" in batches): answered by it, samples drawn of it, their units. */
  function servedBy(name, key = "served") {
    const out = {};
    for (const t of state.tenants)
      for (const [m, x] of Object.entries((t[key] || {})[name] || {})) {
        const into = (out[m] ??= { prompts: 0, samples: 0, units: 0 });
        into.prompts += x.prompts;
        into.samples += x.samples;
        into.units += x.units;
      }
    return out;
  }

  async function renderPredictors() {
    const list = await api("/admin/predictors");
    const metric = (m, ...keys) => {
      const k = keys.find((k) => m[k] !== undefined);
      return k ? fmt(m[k], 3) : "—";
    };
    // Validation figures are the trainer's; test_* ones are `allot eval`'s, on held-out prompts.
    const saved = (m, route) =>
      route
        ? `${m.test_saved_k4 === undefined ? "—" : pct(m.test_saved_k4)} / ${m.test_saved_cascade_k4 === undefined ? "—" : pct(m.test_saved_cascade_k4)}`
        : `${m.test_saved_b4 === undefined ? "—" : pct(m.test_saved_b4)} / ${m.test_saved_waves_b4 === undefined ? "—" : pct(m.test_saved_waves_b4)}`;
    $("#predictors tbody").innerHTML = list.data
      .map((p) => {
        const models = Object.entries(servedBy(p.name));
        const prompts = models.reduce((s, [, x]) => s + x.prompts, 0);
        const batched = Object.values(servedBy(p.name, "batch_served")).reduce((s, x) => s + x.prompts, 0);
        // A router's prompts per model: the model whose answer was kept, and the samples drawn of each.
        const mix = p.route && models.length ? "<br><small>" + models.map(([m, x]) => `${esc(m)}: ${x.prompts} answered, ${x.samples} samples`).join("<br>") + "</small>" : "";
        return `<tr data-predictor="${esc(p.name)}"><td><b>${esc(p.name)}</b><br><small>${esc(p.source)} · ${esc(p.kind)}${p.route ? " router" : ""}</small></td>
          <td>${esc(p.lm_model)}</td><td>${esc(p.reward_model)}</td>
          <td>${metric(p.metrics, "spearman_validation", "spearman_validation_strong")} / ${metric(p.metrics, "test_spearman")}</td>
          <td>${metric(p.metrics, "ece_validation", "ece_validation_strong")} / ${metric(p.metrics, "test_ece")}</td>
          <td>${saved(p.metrics, p.route)}</td>
          <td data-served="${prompts}" data-batch-served="${batched}">${prompts} / ${batched}${mix}</td></tr>`;
      })
      .join("");
    // Reliability per predictor and router over every tenant: from audits when there are enough, else the live first samples (GET /admin/calibration).
    const report = (await api("/admin/calibration")).data;
    state.calibration = report;
    const known = new Set(list.data.map((p) => p.name));
    const used = report.filter((r) => known.has(r.predictor) && (r.audited.prompts > 0 || r.live.prompts > 0));
    state.calCharts.forEach((c) => c.destroy());
    state.calCharts = [];
    const box = $("#calibration");
    box.innerHTML = used.length ? "" : "<p>No predicted traffic yet: the calibration plot fills as requests are served.</p>";
    for (const r of used) {
      const audited = r.source === "audits";
      const shown = audited ? r.audited : r.live;
      const bins = shown.bins.filter((b) => b.n > 0);
      const el = document.createElement("div");
      el.className = "chart";
      el.dataset.calibration = r.predictor;
      el.dataset.source = r.source;
      box.appendChild(el);
      const title = audited
        ? `${r.predictor}: audited pass rate vs predicted (${shown.prompts} audited prompts, ECE ${fmt(shown.ece, 3)})`
        : `${r.predictor}: first sample's reward vs predicted (live, ${shown.prompts} prompts, ECE ${fmt(shown.ece, 3)})`;
      const u = new uPlot(
        {
          title,
          width: Math.max(320, Math.min(520, box.clientWidth - 8)),
          height: 240,
          scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
          axes: [{ label: "predicted" }, { label: audited ? "pass rate" : "first sample", size: 48 }],
          series: [{}, { label: "observed", stroke: "#2b7bb9", width: 0, paths: () => null, points: { size: 8, fill: "#2b7bb9" } }, { label: "perfect", stroke: "#aaa", dash: [4, 4], points: { show: false } }],
          plugins: [binsPlugin(bins)],
        },
        [bins.map((b) => b.predicted), bins.map((b) => b.observed), bins.map((b) => b.predicted)],
        el,
      );
      state.calCharts.push(u);
      // The numbers behind the plot: per bin, its prompts, predicted and observed, and the 95% interval (the bars).
      const table = document.createElement("table");
      table.className = "bins";
      table.innerHTML =
        `<thead><tr><th>predicted</th><th>observed</th><th>95% interval</th><th>prompts</th></tr></thead><tbody>` +
        bins.map((b) => `<tr data-n="${b.n}"><td>${fmt(b.predicted, 2)}</td><td>${fmt(b.observed, 2)}</td><td>${fmt(b.ci95[0], 2)}–${fmt(b.ci95[1], 2)}</td><td>${b.n}</td></tr>`).join("") +
        "</tbody>";
      const note = document.createElement("p");
      note.className = "note";
      note.innerHTML = audited
        ? `<small>Each audited prompt's pass rate over all its samples: an unbiased label. Bars: 95% Wilson intervals; numbers: prompts per bin.</small>`
        : `<small><b>Not from audits:</b> ${esc(r.note)}. Each prompt's first sample is one draw (0 or 1), so the bars are wide until many prompts fall in a bin.</small>`;
      el.append(note, table);
    }
  }

  // ---- wiring

  document.addEventListener("DOMContentLoaded", () => {
    $("#login").addEventListener("submit", (ev) => {
      ev.preventDefault();
      login($("#token").value.trim()).catch(showError);
    });
    $("#logout").addEventListener("click", () => logout(""));
    $("#tenants").addEventListener("click", (ev) => {
      const row = ev.target.closest("tr[data-tenant]");
      if (!row) return;
      state.tenant = row.dataset.tenant;
      state.batch = null;
      $("#batch").hidden = true;
      renderTenants();
      renderTenant().catch(showError);
    });
    $("#batches").addEventListener("click", (ev) => {
      const row = ev.target.closest("tr[data-batch]");
      if (row) openBatch(row.dataset.batch).catch(showError);
    });
    $("#show-results").addEventListener("click", async () => {
      const text = await api(`/admin/tenants/${state.tenant}/batches/${state.batch}/results`).catch(showError);
      $("#batch-results").textContent = typeof text === "string" ? text.split("\n").slice(0, 50).join("\n") : "";
    });
    document.querySelectorAll("[data-step]").forEach((b) =>
      b.addEventListener("click", () => {
        state.step = b.dataset.step;
        document.querySelectorAll("[data-step]").forEach((x) => x.classList.toggle("on", x === b));
        renderTenant().catch(showError);
      }),
    );
    if (state.token) login(state.token).catch(showError);
    else $("#login").hidden = false;
  });
})();

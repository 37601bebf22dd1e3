import { env as workerEnv, exports } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/worker/app.js";
import pkg from "../../package.json" with { type: "json" };

const call = (path: string, init?: RequestInit) => exports.default.fetch(new Request(`https://allot.test${path}`, init));
const post = (path: string, body: string) =>
  call(path, { method: "POST", headers: { "content-type": "application/json" }, body });

async function expectError(res: Response, status: number, type: string, param: string | null = null, code: string | null = null) {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: { type: string; code: string | null; param: string | null; message: string } };
  expect(body.error.type).toBe(type);
  expect(body.error.code).toBe(code);
  expect(body.error.param).toBe(param);
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error;
}

describe("meta routes", () => {
  it("answers /healthz and /readyz", async () => {
    const res = await call("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", service: "allot", version: pkg.version });
    expect((await call("/readyz")).status).toBe(200);
  });

  it("serves an OpenAPI 3.1 document generated from the route schemas", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/admin/calibration",
      "/admin/doctor",
      "/admin/predictors",
      "/admin/predictors/{name}",
      "/admin/tenants",
      "/admin/tenants/{id}",
      "/admin/tenants/{id}/audits",
      "/admin/tenants/{id}/batches",
      "/admin/tenants/{id}/batches/{batchId}",
      "/admin/tenants/{id}/batches/{batchId}/results",
      "/admin/tenants/{id}/budget",
      "/admin/tenants/{id}/keys",
      "/admin/tenants/{id}/keys/{keyId}",
      "/admin/tenants/{id}/online",
      "/admin/tenants/{id}/usage",
      "/healthz",
      "/metrics",
      "/readyz",
      "/v1/allocate",
      "/v1/batches",
      "/v1/batches/{id}",
      "/v1/batches/{id}/cancel",
      "/v1/batches/{id}/events",
      "/v1/batches/{id}/results",
      "/v1/chat/completions",
      "/v1/completions",
      "/v1/embeddings",
      "/v1/feedback",
      "/v1/files",
      "/v1/files/{id}",
      "/v1/files/{id}/content",
      "/v1/models",
      "/v1/models/{id}",
      "/v1/responses",
      "/v1/responses/{id}",
      "/v1/usage",
    ]);
    expect(doc.components.schemas).toHaveProperty("AllocateRequest");
    expect(doc.components.schemas).toHaveProperty("Error");
    expect(doc.components.schemas).toHaveProperty("ChatCompletionRequest");
    expect(doc.components.schemas).toHaveProperty("ResponseCreateRequest");
  });

  it("serves an interactive reference at /docs, built from /openapi.json, its scripts from this origin only", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await res.text();
    expect([...html.matchAll(/<script[^>]+src="([^"]+)"/g)].map((m) => m[1])).toEqual(["/docs/docs.js"]);
    const js = await call("/docs/docs.js");
    expect(js.headers.get("content-type")).toContain("text/javascript");
    expect(await js.text()).toContain('fetch("/openapi.json")');
    // The main request bodies carry an example, which the page prefills (the browser test sends two of them).
    const doc = (await (await call("/openapi.json")).json()) as { components: { schemas: Record<string, { example?: unknown }> } };
    for (const name of ["CompletionRequest", "ChatCompletionRequest", "BatchRequest", "AllocateRequest", "CreateTenant", "Online", "Budget"]) {
      expect(doc.components.schemas[name].example, name).toBeDefined();
    }
  });

  it("serves the console at /dashboard with uPlot from the Worker, and a CSP that keeps the page on this origin", async () => {
    const res = await call("/dashboard");
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const html = await res.text();
    expect([...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).sort()).toEqual(["/dashboard/console.js", "/dashboard/uplot.css", "/dashboard/uplot.js"]);
    expect(await (await call("/dashboard/uplot.js")).text()).toContain("uPlot");
    expect((await call("/dashboard/uplot.css")).headers.get("content-type")).toContain("text/css");
    const root = await call("/", { redirect: "manual" });
    expect([root.status, await root.text()]).toEqual([302, ""]);
    expect(root.headers.get("location")).toBe("/dashboard");
  });

  it("answers an unknown route with a 404 envelope", async () => {
    const err = await expectError(await call("/nope"), 404, "not_found_error");
    expect(err.message).toContain("/nope");
  });
});

describe("POST /v1/allocate", () => {
  it("returns the optimal allocation", async () => {
    const res = await post(
      "/v1/allocate",
      JSON.stringify({ budget: 5, max: 4, queries: [{ id: "a", p: 0.5 }, { id: "b", p: 0.05 }] }),
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { allocation: unknown; used: number; objective: number; projected: string[] };
    expect(body.allocation).toEqual([{ id: "a", units: 4 }, { id: "b", units: 1 }]);
    expect(body.used).toBe(5);
    expect(body.objective).toBeCloseTo(0.9375 + 0.05, 12);
    expect(body.projected).toEqual([]);
  });

  it("rejects a body that is not JSON", async () => {
    await expectError(await post("/v1/allocate", "{budget:"), 400, "invalid_request_error");
  });

  it.each([
    [{ max: 4, queries: [] }, "budget"],
    [{ budget: 1.5, queries: [] }, "budget"],
    [{ budget: 3, queries: [{ id: "a", p: 1.5, max: 2 }] }, "queries[0].p"],
    [{ budget: 3, queries: [{ id: "a", marginals: [0.1, "x"] }] }, "queries[0].marginals[1]"],
    [{ budget: 3, queries: [{ id: "a" }] }, "queries[0].marginals"],
    [{ budget: 3, queries: [{ id: "a", p: 0.5, marginals: [1] }] }, "queries[0].marginals"],
    [{ budget: 3, queries: [{ id: "a", p: 0.5 }] }, "queries[0].max"],
    [{ budget: 3, queries: [{ id: "a", p: 0.5, max: 2 }, { id: "a", p: 0.5, max: 2 }] }, "queries[1].id"],
    [{ budget: 1, max: 4, queries: [{ id: "a", p: 0.5 }, { id: "b", p: 0.5 }] }, "budget"],
    [{ budget: 3, queries: [{ id: "a", p: 0.5, max: 2, extra: 1 }] }, "queries[0]"],
  ])("rejects %j naming %s", async (body, param) => {
    await expectError(await post("/v1/allocate", JSON.stringify(body)), 400, "invalid_request_error", param);
  });
});

describe("limits and browsers", () => {
  it("refuses a body over the route's limit before reading it: 413 in the envelope", async () => {
    const huge = JSON.stringify({ budget: 1, max: 1, queries: [{ id: "a", p: 0.5, pad: "x".repeat(17 * 1024 * 1024) }] });
    const err = await expectError(await post("/v1/allocate", huge), 413, "invalid_request_error");
    expect(err.message).toContain("16 MiB");
  });

  it("answers browsers only from the origins CORS_ORIGINS allows, and never on admin routes", async () => {
    const app = createApp();
    const preflight = (env: Record<string, unknown>, path: string, origin: string) =>
      app.fetch(new Request(`https://allot.test${path}`, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" } }), env, createExecutionContext());
    const off = await preflight(workerEnv as unknown as Record<string, unknown>, "/v1/chat/completions", "https://app.example");
    expect(off.headers.get("access-control-allow-origin")).toBeNull();
    const on = { ...workerEnv, CORS_ORIGINS: "https://app.example, https://other.example" };
    const allowed = await preflight(on, "/v1/chat/completions", "https://app.example");
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(allowed.headers.get("access-control-allow-headers")).toContain("authorization");
    expect((await preflight(on, "/v1/chat/completions", "https://evil.example")).headers.get("access-control-allow-origin")).toBeNull();
    expect((await preflight(on, "/admin/tenants", "https://app.example")).headers.get("access-control-allow-origin")).toBeNull();
  });
});

import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

const call = (path: string, init?: RequestInit) => exports.default.fetch(new Request(`https://allot.test${path}`, init));
const post = (path: string, body: string) =>
  call(path, { method: "POST", headers: { "content-type": "application/json" }, body });

async function expectError(res: Response, status: number, type: string, param: string | null = null) {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: { type: string; code: string; param: string | null; message: string } };
  expect(body.error.type).toBe(type);
  expect(body.error.code).toBe(String(status));
  expect(body.error.param).toBe(param);
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error;
}

describe("meta routes", () => {
  it("answers /healthz", async () => {
    const res = await call("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", service: "allot" });
  });

  it("serves an OpenAPI 3.1 document generated from the route schemas", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/admin/predictors",
      "/admin/predictors/{name}",
      "/admin/tenants",
      "/admin/tenants/{id}",
      "/admin/tenants/{id}/budget",
      "/admin/tenants/{id}/keys",
      "/admin/tenants/{id}/keys/{keyId}",
      "/admin/tenants/{id}/online",
      "/healthz",
      "/v1/allocate",
      "/v1/batches",
      "/v1/batches/{id}",
      "/v1/batches/{id}/cancel",
      "/v1/batches/{id}/events",
      "/v1/batches/{id}/results",
      "/v1/chat/completions",
      "/v1/completions",
      "/v1/models",
      "/v1/usage",
    ]);
    expect(doc.components.schemas).toHaveProperty("AllocateRequest");
    expect(doc.components.schemas).toHaveProperty("Error");
    expect(doc.components.schemas).toHaveProperty("ChatCompletionRequest");
  });

  it("serves an interactive reference at /docs, built from /openapi.json without CDN scripts", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toContain('fetch("/openapi.json")');
    expect(html).not.toMatch(/<script[^>]+src=/);
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

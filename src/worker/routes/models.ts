import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { requireTenant } from "../auth/middleware.js";
import { NotFound } from "../../core/errors.js";
import type { AppEnv } from "../env.js";
import { errorDoc, jsonResponse } from "../http/openapi.js";
import { servedModels } from "../predictor/registry.js";

const Model = z
  .object({
    id: z.string(),
    object: z.literal("model"),
    created: z.int(),
    owned_by: z.string(),
    allot: z.object({ predictor: z.string().describe("the predictor (or router) that plans this model's requests"), router: z.boolean() }),
  })
  .openapi("Model");

const ModelList = z.object({ object: z.literal("list"), data: z.array(Model) }).openapi("ModelList");

const modelOf = (m: { id: string; predictor: string; router: boolean }) => ({ id: m.id, object: "model" as const, created: 0, owned_by: "allot", allot: { predictor: m.predictor, router: m.router } });

export const models = new OpenAPIHono<AppEnv>();
models.use("/v1/models", requireTenant);
models.use("/v1/models/*", requireTenant);

models.openapi(
  createRoute({
    method: "get",
    path: "/v1/models",
    summary: "The models a tenant can call: each LM with a predictor, and each router",
    tags: ["online"],
    security: [{ apiKey: [] }],
    responses: { 200: jsonResponse(ModelList, "OpenAI's model list."), 401: errorDoc("Missing or invalid API key.") },
  }),
  async (c) => c.json({ object: "list" as const, data: (await servedModels(c.env)).map(modelOf) }, 200),
);

models.openAPIRegistry.registerPath(
  createRoute({
    method: "get",
    path: "/v1/models/{id}",
    summary: "One model (its id percent-encoded: the openai SDK sends Qwen%2FQwen3-8B for Qwen/Qwen3-8B)",
    tags: ["online"],
    security: [{ apiKey: [] }],
    request: { params: z.object({ id: z.string() }) },
    responses: { 200: jsonResponse(Model, "OpenAI's model object."), 404: errorDoc("No predictor or router serves that model (model_not_found).") },
  }),
);
// A plain handler: a model id may hold slashes (Qwen/Qwen3-8B), sent encoded or not.
models.get("/v1/models/*", async (c) => {
  const raw = c.req.path.slice("/v1/models/".length);
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    id = raw;
  }
  const found = (await servedModels(c.env)).find((m) => m.id === id);
  if (!found) throw new NotFound({ what: "model", message: `the model ${JSON.stringify(id)} does not exist here: GET /v1/models lists the models a predictor or router serves`, param: "model" });
  return c.json(modelOf(found), 200);
});

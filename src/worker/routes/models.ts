import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { requireTenant } from "../auth/middleware.js";
import type { AppEnv } from "../env.js";
import { errorDoc, jsonResponse } from "../http/openapi.js";
import { servedModels } from "../predictor/registry.js";

const ModelList = z
  .object({
    object: z.literal("list"),
    data: z.array(
      z.object({
        id: z.string(),
        object: z.literal("model"),
        created: z.int(),
        owned_by: z.string(),
        allot: z.object({ predictor: z.string().describe("the predictor (or router) that plans this model's requests"), router: z.boolean() }),
      }),
    ),
  })
  .openapi("ModelList");

export const models = new OpenAPIHono<AppEnv>();
models.use("/v1/models", requireTenant);

models.openapi(
  createRoute({
    method: "get",
    path: "/v1/models",
    summary: "The models a tenant can call: each LM with a predictor, and each router",
    tags: ["online"],
    security: [{ apiKey: [] }],
    responses: { 200: jsonResponse(ModelList, "OpenAI's model list."), 401: errorDoc("Missing or invalid API key.") },
  }),
  async (c) => {
    const data = (await servedModels(c.env)).map((m) => ({ id: m.id, object: "model" as const, created: 0, owned_by: "allot", allot: { predictor: m.predictor, router: m.router } }));
    return c.json({ object: "list" as const, data }, 200);
  },
);

import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./env.js";
import { NotFound } from "../core/errors.js";
import { VERSION } from "../core/version.js";
import { errorResponse } from "./http/errors.js";
import { corsFromConfig } from "./http/cors.js";
import { requestId } from "./http/request-id.js";
import { bodyLimits } from "./http/limits.js";
import { validationHook } from "./http/validation.js";
import { admin } from "./routes/admin.js";
import { adminAudits } from "./routes/admin-audits.js";
import { batches } from "./routes/batches.js";
import { chat } from "./routes/chat.js";
import { completions } from "./routes/completions.js";
import { dashboard } from "./routes/dashboard.js";
import { docs } from "./routes/docs.js";
import { allocateRoute } from "./routes/allocate.js";
import { calibration } from "./routes/calibration.js";
import { health } from "./routes/health.js";
import { metrics } from "./routes/metrics.js";
import { models } from "./routes/models.js";
import { predictors } from "./routes/predictors.js";
import { responses } from "./routes/responses.js";
import { embeddings } from "./routes/embeddings.js";
import { feedback } from "./routes/feedback.js";
import { files } from "./routes/files.js";
import { usage } from "./routes/usage.js";

/** The gateway: every route is registered here, and every error leaves through onError. */
export function createApp(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use("*", requestId, corsFromConfig, bodyLimits);
  app.route("/", health);
  app.route("/", allocateRoute);
  app.route("/", usage);
  app.route("/", feedback);
  app.route("/", batches);
  app.route("/", completions);
  app.route("/", chat);
  app.route("/", responses);
  app.route("/", embeddings);
  app.route("/", files);
  app.route("/", docs);
  app.route("/", dashboard);
  app.route("/", models);
  app.route("/", admin);
  app.route("/", adminAudits);
  app.route("/", predictors);
  app.route("/", calibration);
  app.route("/", metrics);
  app.openAPIRegistry.registerComponent("securitySchemes", "adminToken", { type: "http", scheme: "bearer", description: "The ADMIN_TOKEN secret." });
  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", { type: "http", scheme: "bearer", description: "A tenant's API key." });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "allot",
      version: VERSION,
      description: "Learns how hard each LM query is and spends inference compute where it helps.",
    },
  });
  app.notFound((c) => errorResponse(new NotFound({ what: "route", message: `no route for ${c.req.method} ${c.req.path}` }), c));
  app.onError(errorResponse);
  return app;
}

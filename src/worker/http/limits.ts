/**
 * Request-body limits on every route, checked before a body is parsed (a 100 MB body is
 * refused, not read), each a 413 that says the limit: 24 MiB for batches (what can be
 * handed to the batch's Durable Object: Workers RPC takes at most 32 MiB of arguments),
 * 16 MiB for predictor uploads (a predictor's ONNX, base64, held in memory three times
 * while it is validated) and for anything else (a long conversation with images fits).
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { TooLarge } from "../../core/errors.js";

const MiB = 1024 * 1024;
export const BODY_LIMITS = { batch: 24 * MiB, predictor: 16 * MiB, default: 16 * MiB } as const;

const limited = (maxSize: number) =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new TooLarge({ limit: maxSize, message: `the request body is larger than ${maxSize / MiB} MiB` });
    },
  });
const batch = limited(BODY_LIMITS.batch);
const predictor = limited(BODY_LIMITS.predictor);
const normal = limited(BODY_LIMITS.default);

export const bodyLimits: MiddlewareHandler = (c, next) =>
  (c.req.path === "/v1/batches" ? batch : c.req.path.startsWith("/admin/predictors/") ? predictor : normal)(c, next);

/**
 * Request-body limits on every route, checked before a body is parsed (a 100 MB body is
 * refused, not read): 64 MiB for batches and predictor uploads, 16 MiB for anything else
 * (a long conversation with images fits).
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { TooLarge } from "../../core/errors.js";

const MiB = 1024 * 1024;
export const BODY_LIMITS = { large: 64 * MiB, default: 16 * MiB } as const;

const limited = (maxSize: number) =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new TooLarge({ limit: maxSize, message: `the request body is larger than ${maxSize / MiB} MiB` });
    },
  });
const large = limited(BODY_LIMITS.large);
const normal = limited(BODY_LIMITS.default);

export const bodyLimits: MiddlewareHandler = (c, next) =>
  (c.req.path === "/v1/batches" || c.req.path.startsWith("/admin/predictors/") ? large : normal)(c, next);

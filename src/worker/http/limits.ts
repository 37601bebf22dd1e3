/**
 * Request-body limits on every route, checked before a body is parsed (a 100 MB body is
 * refused, not read), each a 413 that says the limit: 24 MiB for batches (what can be
 * handed to the batch's Durable Object: Workers RPC takes at most 32 MiB of arguments),
 * FILE_MAX_BYTES (and room for the multipart framing) for file uploads, 16 MiB for
 * predictor uploads (a predictor's ONNX, base64, held in memory three times while it is
 * validated) and for anything else (a long conversation with images fits).
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { TooLarge } from "../../core/errors.js";
import { settings } from "../config.js";
import type { AppEnv } from "../env.js";

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

/** What multipart framing adds to an uploaded file (boundaries, headers, the purpose field). */
const FRAMING = 64 * 1024;
const uploads = new Map<number, MiddlewareHandler>();

export const bodyLimits: MiddlewareHandler<AppEnv> = (c, next) => {
  if (c.req.path === "/v1/files") {
    const max = settings(c.env).FILE_MAX_BYTES;
    let limit = uploads.get(max);
    if (!limit) {
      const checked = bodyLimit({
        maxSize: max + FRAMING,
        onError: () => {
          throw new TooLarge({ limit: max, message: `the upload is larger than FILE_MAX_BYTES (${max} bytes)` });
        },
      });
      uploads.set(max, (limit = checked));
    }
    return limit(c, next);
  }
  return (c.req.path === "/v1/batches" ? batch : c.req.path.startsWith("/admin/predictors/") ? predictor : normal)(c, next);
};

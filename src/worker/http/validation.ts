import type { Hook } from "@hono/zod-openapi";
import { firstIssue } from "../../core/contracts/issues.js";
import { Invalid } from "../../core/errors.js";
import { errorResponse } from "./errors.js";

/**
 * OpenAPIHono's defaultHook: a request that fails its route's schema gets a 400 in the
 * error envelope, naming the first offending field.
 */
export const validationHook: Hook<unknown, any, any, any> = (result, c) => {
  if (!result.success) {
    const { param, message } = firstIssue(result.error);
    return errorResponse(new Invalid({ message, param }), c);
  }
};

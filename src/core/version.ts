/**
 * allot's version: package.json's, the one place it is written. The OpenAPI document and
 * /healthz report it.
 */
import pkg from "../../package.json" with { type: "json" };

/** @example `allot ${VERSION}` // "allot 0.1.0" */
export const VERSION: string = pkg.version;

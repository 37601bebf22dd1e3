import { Hono } from "hono";
import uplotCss from "uplot/dist/uPlot.min.css";
import uplotJs from "uplot/dist/uPlot.iife.min.js";
import consoleJs from "../dashboard/console.client.js";
import { DASHBOARD_HTML } from "../dashboard/page.js";
import type { AppEnv } from "../env.js";

/**
 * GET /dashboard: the operator's console, served by the Worker itself with its chart
 * library (uPlot, 51 kB minified: small, fast on thousands of points, no dependencies).
 * The Content-Security-Policy lets the page talk only to this origin, so nothing it shows
 * or sends leaves the gateway. The page and its scripts hold no data: the admin routes
 * they call need the admin token.
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
const headers = (type: string) => ({ "content-type": type, "content-security-policy": CSP, "x-content-type-options": "nosniff", "cache-control": "no-cache" });

export const dashboard = new Hono<AppEnv>()
  .get("/", (c) => c.redirect("/dashboard", 302))
  .get("/dashboard", (c) => c.body(DASHBOARD_HTML, 200, headers("text/html; charset=utf-8")))
  .get("/dashboard/uplot.js", (c) => c.body(uplotJs, 200, headers("text/javascript; charset=utf-8")))
  .get("/dashboard/uplot.css", (c) => c.body(uplotCss, 200, headers("text/css; charset=utf-8")))
  .get("/dashboard/console.js", (c) => c.body(consoleJs, 200, headers("text/javascript; charset=utf-8")));

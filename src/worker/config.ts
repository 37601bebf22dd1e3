/**
 * The gateway's settings (core/config/settings.ts) as the Worker and its Durable Objects
 * read them: parsed once per environment object, then shared by every reader, so one
 * value means one thing everywhere. A setting that does not read throws Misconfigured
 * (a 503 `x-should-retry: false` naming it) wherever it is first read.
 */
import { type Settings, parseSettings } from "../core/config/settings.js";
import type { Env } from "./env.js";

const parsed = new WeakMap<Env, Settings>();

/**
 * The settings of `env`, parsed on first use.
 *
 * @example const lease = settings(env).ONLINE_LEASE_SECONDS * 1000;
 */
export function settings(env: Env): Settings {
  let s = parsed.get(env);
  if (!s) {
    s = parseSettings(env);
    parsed.set(env, s);
  }
  return s;
}

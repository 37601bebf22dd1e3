/** Bindings and variables the Worker sees (wrangler.toml, secrets). */
export interface Env {
  readonly ALLOT_VERSION?: string;
}

export type AppEnv = { Bindings: Env };

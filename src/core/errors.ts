/**
 * What went wrong, in the domain's words. Each error says whether trying the same thing
 * again can help (`retryable`, and when, `retryAfterMs`), what a caller may be told
 * (`reason`: never an internal URL) and what the log gets (`message`). HTTP is one door
 * onto these (src/worker/http/errors.ts turns them into a status, the envelope and
 * headers, in one place); batches and the CLI are others, and they decide by kind and
 * `retryable`, never by an HTTP status.
 *
 * Constructors take one options object with an optional `cause`, like Hono's
 * `new HTTPException(status, { message, cause })`.
 */

interface Common {
  /** For the log; also what the caller is told unless `reason` says otherwise. */
  readonly message: string;
  readonly cause?: unknown;
}

/** The base of every domain error; throw one of its subclasses. */
export abstract class AllotError extends Error {
  /** Trying the same request again may succeed (soon, or after `retryAfterMs`). */
  abstract readonly retryable: boolean;
  /** What the caller is told: the message without anything internal (a server's URL). */
  readonly reason: string;
  /** The request field to blame, in the caller's terms (`prompt`, `queries[3].p`), or null. */
  readonly param: string | null;
  /** When trying again may help, in ms from when the error was made; null when unknown. */
  readonly retryAfterMs: number | null;

  constructor(o: Common & { readonly reason?: string; readonly param?: string | null; readonly retryAfterMs?: number | null }) {
    super(o.message, o.cause === undefined ? undefined : { cause: o.cause });
    this.reason = o.reason ?? o.message;
    this.param = o.param ?? null;
    this.retryAfterMs = o.retryAfterMs ?? null;
  }
}

/**
 * The request is wrong: a field out of range, a name that means nothing here, a plan the
 * tenant's settings do not allow. The caller must change it; retrying cannot help.
 *
 * @example throw new Invalid({ message: "from must be before to", param: "from" })
 */
export class Invalid extends AllotError {
  override readonly name: string = "Invalid";
  readonly retryable = false;
  constructor(o: Common & { readonly param?: string | null }) {
    super(o);
  }
}

/** What a NotFound did not find; a model is OpenAI's `model_not_found`. */
export type Missing = "model" | "batch" | "tenant" | "key" | "predictor" | "route" | "response" | "file";

/**
 * Something the request names does not exist (for this tenant).
 *
 * @example throw new NotFound({ what: "batch", message: `no batch ${id}`, param: "id" })
 */
export class NotFound extends AllotError {
  override readonly name: string = "NotFound";
  readonly retryable = false;
  readonly what: Missing;
  constructor(o: Common & { readonly what: Missing; readonly param?: string | null }) {
    super(o);
    this.what = o.what;
  }
}

/**
 * The tenant a call is for was never created: a ledger asked about a tenant it does not
 * hold. (Tenants are never deleted, so this does not heal with time.)
 *
 * @example if (!this.exists()) throw new UnknownTenant({})
 * @example throw new UnknownTenant({ tenant: id, param: "id" })
 */
export class UnknownTenant extends NotFound {
  override readonly name: string = "UnknownTenant";
  readonly tenant: string | null;
  constructor(o: { readonly tenant?: string; readonly message?: string; readonly param?: string | null; readonly cause?: unknown }) {
    super({ what: "tenant", message: o.message ?? (o.tenant === undefined ? "no such tenant" : `no tenant ${o.tenant}`), param: o.param, cause: o.cause });
    this.tenant = o.tenant ?? null;
  }
}

/**
 * The caller did not say who it is, or said it wrongly: no key, or a key (or admin token)
 * that is not live. `credential` tells which (OpenAI's code `invalid_api_key` for a wrong one).
 *
 * @example throw new Unauthenticated({ credential: "missing", message: "missing API key: send Authorization: Bearer <key>" })
 */
export class Unauthenticated extends AllotError {
  override readonly name: string = "Unauthenticated";
  readonly retryable = false;
  readonly credential: "missing" | "invalid";
  constructor(o: Common & { readonly credential: "missing" | "invalid" }) {
    super(o);
    this.credential = o.credential;
  }
}

/** The window of a tenant's budget that refused a reservation, and its accounts then. */
export interface BudgetScope {
  readonly window: string;
  readonly limit: number;
  readonly used: number;
  readonly reserved: number;
  readonly requested: number;
  /** When the window rolls over (epoch ms): the earliest a retry can succeed. */
  readonly resetsAt: number;
}

/**
 * A tenant's budget cannot pay for the request. Not retryable: nothing changes before the
 * window that refused it rolls over (`retryAfterMs` says when). Given a `scope`, the
 * message names the tenant, the window and its accounts (users must learn *which* budget);
 * without one (a request that got fewer units than its cheapest option), pass the message.
 *
 * @example throw new BudgetExceeded({ tenant, what: "this batch", scope: { window: "day", limit: 100, used: 90, reserved: 5, requested: 20, resetsAt } })
 * @example throw new BudgetExceeded({ tenant, message: `tenant ${tenant} has 3 units left for this request; its cheapest option costs 4` })
 */
export class BudgetExceeded extends AllotError {
  override readonly name: string = "BudgetExceeded";
  readonly retryable = false;
  readonly tenant: string;
  readonly scope: BudgetScope | null;
  constructor(o: { readonly tenant: string; readonly what: string; readonly scope: BudgetScope; readonly now?: number; readonly cause?: unknown } | (Common & { readonly tenant: string })) {
    super("scope" in o ? BudgetExceeded.described(o.tenant, o.what, o.scope, o.now ?? Date.now(), o.cause) : o);
    this.tenant = o.tenant;
    this.scope = "scope" in o ? o.scope : null;
  }

  /** The message for a refusal by a window: the tenant, the window, its accounts, and when it resets. */
  private static described(tenant: string, what: string, s: BudgetScope, now: number, cause: unknown) {
    const wait = Math.max(1000, s.resetsAt - now);
    const message =
      `tenant ${tenant} is over its ${s.window} budget: ${s.used} used + ${s.reserved} reserved + ${s.requested} for ${what} > ${s.limit} units ` +
      `(the ${s.window} window resets in ${Math.ceil(wait / 1000)} s)`;
    return { message, retryAfterMs: wait, cause };
  }
}

/**
 * Not now, but soon: the caller is over a rate (failed authentications, predictions), has
 * as many batches running as it may, or units it needs are held by requests in flight.
 * Retryable, after `retryAfterMs` when known.
 *
 * @example throw new TryLater({ message: "too many failed authentications from this address; wait a minute", retryAfterMs: 60_000 })
 */
export class TryLater extends AllotError {
  override readonly name: string = "TryLater";
  readonly retryable = true;
  constructor(o: Common & { readonly retryAfterMs?: number | null }) {
    super(o);
  }
}

/**
 * The gateway's deployment cannot do this: a setting (a wrangler var or secret, or a
 * binding) is missing or malformed, or what the servers answer does not fit what is
 * deployed. Not retryable: an operator must change `setting`. The message says what to set.
 *
 * @example throw new Misconfigured({ setting: "LM_URL", message: "set LM_URL (wrangler.toml [vars]) to the LM server's base URL" })
 */
export class Misconfigured extends AllotError {
  override readonly name: string = "Misconfigured";
  readonly retryable = false;
  /** The setting or binding to change, when one is to blame. */
  readonly setting: string | null;
  /** `reason`, when given, is what a caller is told: the message without a server's address. */
  constructor(o: Common & { readonly setting: string | null; readonly reason?: string }) {
    super(o);
    this.setting = o.setting;
  }
}

/**
 * A model server refused the request for what it asked (a 4xx other than 408 and 429: a
 * prompt too long, a token it cannot take): the caller's to fix, so not retryable.
 * `message` names the server (for the log); `reason` is what it said, without its address.
 *
 * @example throw new UpstreamRefused({ message: `${url} answered 400: ${detail}`, reason: `400: ${detail}`, upstreamStatus: 400, param: "max_tokens" })
 */
export class UpstreamRefused extends AllotError {
  override readonly name: string = "UpstreamRefused";
  readonly retryable = false;
  /** The HTTP status the server answered. */
  readonly upstreamStatus: number;
  constructor(o: Common & { readonly reason: string; readonly upstreamStatus: number; readonly param?: string | null }) {
    super(o);
    this.upstreamStatus = o.upstreamStatus;
  }
}

/**
 * A server allot calls (an LM, a reward model, the predictor bucket) failed: it could not
 * be reached, did not answer in time, answered 429 or 5xx until the attempts ran out
 * (retryable; `retryAfterMs` is its last Retry-After), or answered what cannot be read
 * (`retryable: false`: it would answer the same again). `reason` hides its address.
 *
 * @example throw new Unavailable({ message: `${url}: no answer within 30000 ms`, reason: "no answer within 30000 ms" })
 * @example throw new Unavailable({ message: `${url}: 3 scores for 4 samples`, reason: "3 scores for 4 samples", retryable: false })
 */
export class Unavailable extends AllotError {
  override readonly name: string = "Unavailable";
  readonly retryable: boolean;
  /** The HTTP status the server last answered, or null when it did not answer. */
  readonly upstreamStatus: number | null;
  constructor(o: Common & { readonly reason?: string; readonly retryable?: boolean; readonly upstreamStatus?: number | null; readonly retryAfterMs?: number | null }) {
    super(o);
    this.retryable = o.retryable ?? true;
    this.upstreamStatus = o.upstreamStatus ?? null;
  }
}

/** A failed call to a model server: refused for what it asked, or the server failed. */
export type UpstreamError = UpstreamRefused | Unavailable;

/**
 * Whether `e` is a model server's failure (what `postJson` and the backends throw).
 *
 * @example catch (e) { if (!isUpstream(e)) throw e; … e.reason … }
 */
export const isUpstream = (e: unknown): e is UpstreamError => e instanceof UpstreamRefused || e instanceof Unavailable;

/**
 * The request is larger than allot takes (a body over its limit). Not retryable as sent.
 *
 * @example throw new TooLarge({ limit: 16 * 2 ** 20, message: "the request body is larger than 16 MiB" })
 */
export class TooLarge extends AllotError {
  override readonly name: string = "TooLarge";
  readonly retryable = false;
  /** The limit, in bytes. */
  readonly limit: number;
  constructor(o: Common & { readonly limit: number }) {
    super(o);
    this.limit = o.limit;
  }
}

/**
 * The request collided with something made at the same moment (a random id already
 * taken). Retryable: trying again decides afresh.
 *
 * @example throw new Conflict({ message: `tenant id ${id} collided; retry` })
 */
export class Conflict extends AllotError {
  override readonly name: string = "Conflict";
  readonly retryable = true;
  constructor(o: Common) {
    super(o);
  }
}

/**
 * The domain error a Durable Object threw, rebuilt on the caller's side of RPC. Workers
 * RPC keeps only an error's message, prefixed with its name ("UnknownTenant: no such
 * tenant"), and marks it `remote`; this gives back its class, so its meaning and
 * retryability hold across objects. Fields beyond the message (`param`, `retryAfterMs`)
 * do not cross: an object that must send them returns them as data, as the ledger's
 * reservations do. Errors only the Worker itself throws (about the request: NotFound,
 * Unauthenticated, UpstreamRefused, TooLarge), and anything else, come back unchanged.
 *
 * @example catch (e) { const err = revive(e); if (err instanceof AllotError && !err.retryable) … }
 */
export function revive(e: unknown): unknown {
  if (!(e instanceof Error) || e instanceof AllotError || (e as { remote?: unknown }).remote !== true) return e;
  const m = /^(\w+): ([\s\S]*)$/.exec(e.message);
  const rebuild = m ? REVIVERS[m[1]] : undefined;
  return m && rebuild ? rebuild(m[2], e) : e;
}

/** How each domain error an object may throw is rebuilt from its message (see revive). */
const REVIVERS: Record<string, (message: string, cause: Error) => AllotError> = {
  Invalid: (message, cause) => new Invalid({ message, cause }),
  UnknownTenant: (message, cause) => new UnknownTenant({ message, cause }),
  BudgetExceeded: (message, cause) => new BudgetExceeded({ tenant: /^tenant (\S+)/.exec(message)?.[1] ?? "", message, cause }),
  TryLater: (message, cause) => new TryLater({ message, cause }),
  // Settings errors start with the setting's name ("BATCH_RETENTION_SECONDS must be …").
  Misconfigured: (message, cause) => new Misconfigured({ setting: /^[A-Z][A-Z0-9_]+(?= )/.exec(message)?.[0] ?? null, message, cause }),
  Unavailable: (message, cause) => new Unavailable({ message, cause }),
  Conflict: (message, cause) => new Conflict({ message, cause }),
};

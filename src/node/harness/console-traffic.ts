// Real traffic for the console to show, through the gateway's public API (the same calls
// users make): two tenants, adaptive and pinned completions, chat, routed completions
// (the shipped weak/strong router), requests over budget, requests the gateway rejects (an
// empty prompt, an unknown model), and batches. The main tenant audits every priced
// request (audit_rate 1), so its audited prompts fill the reliability plot. Used by the browser test and by `npm run screenshots`.
import { type RunningGateway, createTenant } from "./gateway.js";

/** Arithmetic prompts from easy to hopeless, like the reference LM's task. */
export const PROMPTS = ["12+34=", "345+678=", "56*78=", "9876+1234=", "234+567=", "4567*8912=", "1+1=", "12*34=", "789+456=", "45678*91234=", "99+1=", "321*45="];

export interface Traffic {
  readonly tenant: { id: string; key: string };
  readonly other: { id: string; key: string };
  /** Requests sent per tenant, by outcome, as the gateway answered them. */
  readonly sent: Record<string, { ok: number; refused: number; rejected: number }>;
}

async function complete(gw: RunningGateway, key: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${gw.url}/v1/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: JSON.stringify({ model: "strong", temperature: 0.8, max_tokens: 12, ...body }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** `rounds` rounds of traffic, `pauseMs` apart (spread over minutes, the charts get more than one point). */
export async function sendTraffic(gw: RunningGateway, opts: { rounds?: number; pauseMs?: number } = {}): Promise<Traffic> {
  const tenant = await createTenant(gw, { day: 20_000, hour: 2_000 });
  const other = await createTenant(gw, { day: 40 });
  await fetch(`${gw.url}/admin/tenants/${tenant.id}/online`, {
    method: "PUT",
    headers: { authorization: `Bearer ${gw.admin}`, "content-type": "application/json" },
    body: JSON.stringify({ target_units: 4, min_units: 1, max_units: 16, audit_rate: 1 }),
  });
  const sent: Traffic["sent"] = { [tenant.id]: { ok: 0, refused: 0, rejected: 0 }, [other.id]: { ok: 0, refused: 0, rejected: 0 } };
  const count = (id: string, status: number) => {
    if (status === 200) sent[id].ok++;
    else if (status === 429) sent[id].refused++;
    else if (status === 400 || status === 404) sent[id].rejected++;
    else throw new Error(`unexpected ${status}`);
  };
  const rounds = opts.rounds ?? 1;
  for (let r = 0; r < rounds; r++) {
    for (const [i, prompt] of PROMPTS.entries()) count(tenant.id, await complete(gw, tenant.key, { prompt, seed: r * 100 + i }));
    count(tenant.id, await complete(gw, tenant.key, { prompt: "345+678=", seed: r }, { "x-allot-units": "8" }));
    const chat = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "strong", messages: [{ role: "user", content: "234+567=" }], max_tokens: 12, seed: r }),
    });
    await chat.arrayBuffer();
    count(tenant.id, chat.status);
    // Routed: the router picks the model (weak costs 1 a sample, strong 3).
    for (const [i, prompt] of ["12345+678=", "54321+9876=", "345+678="].entries()) count(tenant.id, await complete(gw, tenant.key, { prompt, model: "route", seed: r * 10 + i }));
    // Rejected before any work: an empty prompt (400), a model the gateway does not serve (404).
    count(tenant.id, await complete(gw, tenant.key, { prompt: "" }));
    count(tenant.id, await complete(gw, tenant.key, { prompt: "1+2=", model: "no-such-model" }));
    // The small tenant runs out of its 40 units a day: 429s.
    for (let i = 0; i < 6; i++) count(other.id, await complete(gw, other.key, { prompt: "56*78=", seed: r * 10 + i }, { "x-allot-units": "8" }));
    if (r < rounds - 1 && opts.pauseMs) await new Promise((res) => setTimeout(res, opts.pauseMs));
  }
  return { tenant, other, sent };
}

/** Submits a batch of `n` prompts for `key`'s tenant; its id. */
export async function submitBatch(gw: RunningGateway, key: string, n: number, budget = 3): Promise<string> {
  const prompts = Array.from({ length: n }, (_, i) => ({ id: `q${i}`, prompt: PROMPTS[i % PROMPTS.length] }));
  const res = await fetch(`${gw.url}/v1/batches`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ prompts, budget: { average: budget }, sampling: { seed: 7 } }),
  });
  if (res.status !== 202) throw new Error(`batch refused: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

// Feedback from clients (POST /v1/feedback, src/worker/routes/feedback.ts, docs/audits.md#feedback):
// a reward for a response the tenant was given, recorded in its ledger once per response and
// counted in GET /v1/usage. Response ids are signed for their tenant, so a forged id, or one
// given to another tenant, is a 404 like one never given. Against real ledgers, budget shards
// and the reference LM.
import { describe, expect, it } from "vitest";
import { ADMIN, call, newTenant } from "./support.js";

type Headers = Record<string, string>;
type Envelope = { error: { type: string; code: string | null; param: string | null; message: string } };
type Feedback = { object: string; response_id: string; reward: number; comment: string | null; recorded_at: string; replaced: boolean };
type Summary = { count: number; mean_reward: number | null };

const post = (path: string, h: Headers, body: unknown) => call(path, { method: "POST", headers: h, body: typeof body === "string" ? body : JSON.stringify(body) });
const give = (h: Headers, body: unknown) => post("/v1/feedback", h, body);
const summary = async (h: Headers) => ((await (await call("/v1/usage", { headers: h })).json()) as { feedback: Summary }).feedback;

/** A response id the tenant was given: of a completion, a chat completion, or the Responses API. */
async function answered(h: Headers, route: "completions" | "chat" | "responses" = "completions"): Promise<string> {
  const body =
    route === "completions"
      ? { model: "strong", prompt: "12+34=", max_tokens: 8 }
      : route === "chat"
        ? { model: "strong", messages: [{ role: "user", content: "12+34=" }], max_tokens: 8 }
        : { model: "strong", input: "12+34=", max_output_tokens: 8 };
  const res = await post(route === "chat" ? "/v1/chat/completions" : `/v1/${route}`, { ...h, "x-allot-units": "1" }, body);
  expect(res.status).toBe(200);
  return ((await res.json()) as { id: string }).id;
}

describe("POST /v1/feedback", () => {
  it("records a reward for a response of each kind the tenant was given, ids keeping OpenAI's prefixes", async () => {
    const t = await newTenant();
    for (const [route, prefix] of [["completions", "cmpl-"], ["chat", "chatcmpl-"], ["responses", "resp_"]] as const) {
      const id = await answered(t.headers, route);
      expect(id.startsWith(prefix)).toBe(true);
      const res = await give(t.headers, { response_id: id, reward: 0.75, comment: "close" });
      expect(res.status).toBe(200);
      const f = (await res.json()) as Feedback;
      expect(f).toMatchObject({ object: "feedback", response_id: id, reward: 0.75, comment: "close", replaced: false });
      expect(Date.parse(f.recorded_at)).toBeGreaterThan(0);
    }
    expect(await summary(t.headers)).toEqual({ count: 3, mean_reward: 0.75 });
  });

  it("a stored response keeps working under its signed id (GET, previous_response_id)", async () => {
    const t = await newTenant();
    const id = await answered(t.headers, "responses");
    expect((await call(`/v1/responses/${id}`, { headers: t.headers })).status).toBe(200);
    const next = await post("/v1/responses", { ...t.headers, "x-allot-units": "1" }, { model: "strong", input: "1+1=", previous_response_id: id, max_output_tokens: 8 });
    expect(next.status, await next.clone().text()).toBe(200);
  });

  it("refuses a malformed body with a 400 in the envelope naming the field", async () => {
    const t = await newTenant();
    const id = await answered(t.headers);
    const cases: [unknown, string][] = [
      [{ reward: 1 }, "response_id"],
      [{ response_id: id }, "reward"],
      [{ response_id: id, reward: 1.5 }, "reward"],
      [{ response_id: id, reward: -0.1 }, "reward"],
      [{ response_id: id, reward: "1" }, "reward"],
      [{ response_id: id, reward: 1, comment: "é".repeat(513) }, "comment"], // 1,026 bytes
      [{ response_id: id, reward: 1, comment: 5 }, "comment"],
      [{ response_id: 7, reward: 1 }, "response_id"],
    ];
    for (const [body, param] of cases) {
      const res = await give(t.headers, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const e = ((await res.json()) as Envelope).error;
      expect(e.type).toBe("invalid_request_error");
      expect(e.param, JSON.stringify(body)).toBe(param);
    }
    // An unknown field is named in the message (zod's unrecognized keys have no path).
    const unknown = await give(t.headers, { response_id: id, reward: 1, score: 1 });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as Envelope).error.message).toMatch(/score/);
    const broken = await give(t.headers, "{not json");
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as Envelope).error.type).toBe("invalid_request_error");
    // A comment of exactly 1 KiB is taken.
    expect((await give(t.headers, { response_id: id, reward: 1, comment: "x".repeat(1024) })).status).toBe(200);
    expect((await summary(t.headers)).count).toBe(1);
  });

  it("is a 404 for an id the tenant was never given: unknown, forged, altered, or another tenant's", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const ofB = await answered(b.headers, "chat");
    const ofA = await answered(a.headers, "chat");
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === "0" ? "1" : "0") + s.slice(i + 1);
    const ids = [
      "chatcmpl-7b268614-0000-4000-8000-000000000000", // the old unsigned shape
      "resp_0123456789abcdef01234567",
      `chatcmpl-${"0".repeat(48)}`,
      ofB, // another tenant's
      flip(ofA, ofA.length - 1), // its tag altered
      flip(ofA, "chatcmpl-".length), // its random part altered
      `cmpl-${ofA.slice("chatcmpl-".length)}`, // its prefix altered: one response, one id
    ];
    for (const id of ids) {
      const res = await give(a.headers, { response_id: id, reward: 1 });
      expect(res.status, id).toBe(404);
      const e = ((await res.json()) as Envelope).error;
      expect(e).toMatchObject({ type: "not_found_error", param: "response_id" });
    }
    expect(await summary(a.headers)).toEqual({ count: 0, mean_reward: null });
    // b's own id is b's.
    expect((await give(b.headers, { response_id: ofB, reward: 1 })).status).toBe(200);
  });

  it("is idempotent per response: a second feedback replaces the first, counted once", async () => {
    const t = await newTenant();
    const [x, y] = [await answered(t.headers), await answered(t.headers, "chat")];
    expect(((await (await give(t.headers, { response_id: x, reward: 0 })).json()) as Feedback).replaced).toBe(false);
    expect(((await (await give(t.headers, { response_id: y, reward: 1 })).json()) as Feedback).replaced).toBe(false);
    expect(await summary(t.headers)).toEqual({ count: 2, mean_reward: 0.5 });
    const again = (await (await give(t.headers, { response_id: x, reward: 0.5, comment: "on second thought" })).json()) as Feedback;
    expect(again).toMatchObject({ replaced: true, reward: 0.5, comment: "on second thought" });
    expect(await summary(t.headers)).toEqual({ count: 2, mean_reward: 0.75 });
  });

  it("works for a tenant on budget shards (ids signed, feedback kept in its ledger)", async () => {
    const t = await newTenant();
    const res = await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, shards: 2 }) });
    expect(res.status).toBe(200);
    const ids = [await answered(t.headers), await answered(t.headers, "chat"), await answered(t.headers, "responses")];
    for (const [i, id] of ids.entries()) expect((await give(t.headers, { response_id: id, reward: i / 2 })).status).toBe(200);
    expect(await summary(t.headers)).toEqual({ count: 3, mean_reward: 0.5 });
  });

  it("needs the tenant's API key", async () => {
    const res = await call("/v1/feedback", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ response_id: "x", reward: 1 }) });
    expect(res.status).toBe(401);
  });
});

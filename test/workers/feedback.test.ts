// Feedback from clients (POST /v1/feedback, src/worker/routes/feedback.ts, docs/audits.md#feedback):
// a reward for a response the tenant was given, recorded in its ledger once per response and
// counted in GET /v1/usage. Response ids are signed for their tenant, so a forged id, or one
// given to another tenant, is a 404 like one never given. Against real ledgers, budget shards
// and the reference LM.
import { describe, expect, it } from "vitest";
import { SIGNED_ID } from "../../src/core/feedback/response-id.js";
import { ADMIN, call, newTenant, until } from "./support.js";

type Headers = Record<string, string>;
type Envelope = { error: { type: string; code: string | null; param: string | null; message: string } };
type Feedback = { object: string; response_id: string; reward: number; comment: string | null; recorded_at: string; replaced: boolean };
type Summary = { count: number; mean_reward: number | null };

const post = (path: string, h: Headers, body: unknown) => call(path, { method: "POST", headers: h, body: typeof body === "string" ? body : JSON.stringify(body) });
const give = (h: Headers, body: unknown) => post("/v1/feedback", h, body);
/** A JSON-lines body, read as bytes (its content type is not text). */
const jsonLines = async <T>(res: Response): Promise<T[]> =>
  new TextDecoder()
    .decode(await res.arrayBuffer())
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as T);
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
    expect(await summary(t.headers)).toMatchObject({ count: 3, mean_reward: 0.75 });
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
    expect(await summary(a.headers)).toMatchObject({ count: 0, mean_reward: null });
    // b's own id is b's.
    expect((await give(b.headers, { response_id: ofB, reward: 1 })).status).toBe(200);
  });

  it("is idempotent per response: a second feedback replaces the first, counted once", async () => {
    const t = await newTenant();
    const [x, y] = [await answered(t.headers), await answered(t.headers, "chat")];
    expect(((await (await give(t.headers, { response_id: x, reward: 0 })).json()) as Feedback).replaced).toBe(false);
    expect(((await (await give(t.headers, { response_id: y, reward: 1 })).json()) as Feedback).replaced).toBe(false);
    expect(await summary(t.headers)).toMatchObject({ count: 2, mean_reward: 0.5 });
    const again = (await (await give(t.headers, { response_id: x, reward: 0.5, comment: "on second thought" })).json()) as Feedback;
    expect(again).toMatchObject({ replaced: true, reward: 0.5, comment: "on second thought" });
    expect(await summary(t.headers)).toMatchObject({ count: 2, mean_reward: 0.75 });
  });

  it("works for a tenant on budget shards (ids signed, feedback kept in its ledger)", async () => {
    const t = await newTenant();
    const res = await call(`/admin/tenants/${t.id}/online`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ target_units: 4, shards: 2 }) });
    expect(res.status).toBe(200);
    const ids = [await answered(t.headers), await answered(t.headers, "chat"), await answered(t.headers, "responses")];
    for (const [i, id] of ids.entries()) expect((await give(t.headers, { response_id: id, reward: i / 2 })).status).toBe(200);
    expect(await summary(t.headers)).toMatchObject({ count: 3, mean_reward: 0.5 });
  });

  it("takes a batch's answers: allot's results carry signed response ids, the same on every read", async () => {
    const t = await newTenant();
    const other = await newTenant();
    const sub = await post("/v1/batches", t.headers, { prompts: [{ id: "x", prompt: "1+1=" }, { id: "y", prompt: "12+34=" }], budget: { average: 1, min: 1, max: 1 } });
    expect(sub.status).toBe(202);
    const batch = ((await sub.json()) as { id: string }).id;
    const status = async () => ((await (await call(`/v1/batches/${batch}`, { headers: t.headers })).json()) as { status: string }).status;
    expect(await until(async () => ["done", "failed", "cancelled"].includes(await status()) && (await status()), { timeoutMs: 20_000, what: "the batch to end" })).toBe("done");
    const read = async () => jsonLines<{ id: string; status: string; response_id: string | null }>(await call(`/v1/batches/${batch}/results`, { headers: t.headers }));
    const first = await read();
    expect(first.map((r) => r.status)).toEqual(["done", "done"]);
    for (const r of first) {
      expect(r.response_id?.startsWith("cmpl-")).toBe(true);
      expect(SIGNED_ID.test(r.response_id!)).toBe(true);
    }
    expect(new Set(first.map((r) => r.response_id)).size).toBe(2);
    expect(await read()).toEqual(first); // the same ids on every read: feedback on one answer counts once
    // The operator's view of the results shows the same ids.
    const admin = await jsonLines<{ response_id: string }>(await call(`/admin/tenants/${t.id}/batches/${batch}/results`, { headers: ADMIN }));
    expect(admin.map((r) => r.response_id)).toEqual(first.map((r) => r.response_id));
    expect((await give(t.headers, { response_id: first[0].response_id, reward: 1 })).status).toBe(200);
    expect((await give(t.headers, { response_id: first[1].response_id, reward: 0 })).status).toBe(200);
    expect(await summary(t.headers)).toMatchObject({ count: 2, mean_reward: 0.5 });
    // Another tenant cannot rate them.
    expect((await give(other.headers, { response_id: first[0].response_id, reward: 1 })).status).toBe(404);
  });

  it("takes the answers of an OpenAI Batch API file: the output lines' ids are signed, one id per answer", async () => {
    const t = await newTenant();
    const line = (id: string, q: string) => JSON.stringify({ custom_id: id, method: "POST", url: "/v1/chat/completions", body: { model: "strong", messages: [{ role: "user", content: q }], max_tokens: 8 } });
    const form = new FormData();
    form.append("purpose", "batch");
    form.append("file", new File([[line("a", "12+34="), line("b", "1+1=")].join("\n")], "in.jsonl"));
    const file = (await (await call("/v1/files", { method: "POST", headers: { authorization: t.headers.authorization }, body: form })).json()) as { id: string };
    const created = await post("/v1/batches", t.headers, { input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    expect(created.status).toBe(200);
    const batch = ((await created.json()) as { id: string }).id;
    const view = async () => (await (await call(`/v1/batches/${batch}`, { headers: t.headers })).json()) as { status: string; output_file_id: string | null };
    const done = await until(async () => {
      const s = await view();
      return ["completed", "failed", "cancelled", "expired"].includes(s.status) && s;
    }, { timeoutMs: 20_000, what: "the batch to end" });
    expect(done.status).toBe("completed");
    const output = async () => jsonLines<{ custom_id: string; response: { body: { id: string } } }>(await call(`/v1/files/${done.output_file_id}/content`, { headers: t.headers }));
    const lines = await output();
    const ids = lines.map((l) => l.response.body.id);
    for (const id of ids) {
      expect(id.startsWith("chatcmpl-")).toBe(true);
      expect(SIGNED_ID.test(id)).toBe(true);
    }
    expect((await output()).map((l) => l.response.body.id)).toEqual(ids);
    // allot's view of the same batch names each answer by the same id.
    const own = await jsonLines<{ id: string; response_id: string }>(await call(`/v1/batches/${batch}/results`, { headers: t.headers }));
    expect(own.map((r) => [r.id, r.response_id])).toEqual(lines.map((l) => [l.custom_id, l.response.body.id]));
    for (const id of ids) expect((await give(t.headers, { response_id: id, reward: 1 })).status).toBe(200);
    expect((await give(t.headers, { response_id: ids[0], reward: 0 })).status).toBe(200); // the same answer by either route: replaced, counted once
    expect(await summary(t.headers)).toMatchObject({ count: 2, mean_reward: 0.5 });
  });

  it("needs the tenant's API key", async () => {
    const res = await call("/v1/feedback", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ response_id: "x", reward: 1 }) });
    expect(res.status).toBe(401);
  });
});

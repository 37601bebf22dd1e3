// Response ids signed for their tenant (src/core/feedback/response-id.ts): what POST
// /v1/feedback checks. An id passes for the tenant, prefix and secret it was made under,
// and for nothing else.
import { describe, expect, it } from "vitest";
import { RESPONSE_PREFIXES, SIGNED_ID, batchResponseId, givenTo, signedResponseId } from "../../src/core/feedback/response-id.js";
import { RESPONSE_ID, itemId, responseOfItem } from "../../src/core/contracts/responses.js";

describe("signed response ids", () => {
  it("keep OpenAI's prefixes, and pass only for their tenant, prefix and secret", async () => {
    for (const prefix of RESPONSE_PREFIXES) {
      const id = await signedResponseId("s", "t1", prefix);
      expect(id.startsWith(prefix)).toBe(true);
      expect(SIGNED_ID.test(id)).toBe(true);
      expect(await givenTo("s", "t1", id)).toBe(true);
      expect(await givenTo("s", "t2", id)).toBe(false);
      expect(await givenTo("other secret", "t1", id)).toBe(false);
      for (const other of RESPONSE_PREFIXES.filter((p) => p !== prefix)) expect(await givenTo("s", "t1", other + id.slice(prefix.length))).toBe(false);
      // Any one hex character changed, in the random part or the tag, and it fails.
      for (let i = prefix.length; i < id.length; i += 7) {
        const altered = id.slice(0, i) + (id[i] === "a" ? "b" : "a") + id.slice(i + 1);
        expect(await givenTo("s", "t1", altered)).toBe(false);
      }
    }
    expect(await signedResponseId("s", "t1", "resp_")).not.toBe(await signedResponseId("s", "t1", "resp_"));
  });

  it("of a batch's answer: the same for the same answer, one per answer, passing only for its tenant and secret", async () => {
    for (const prefix of RESPONSE_PREFIXES) {
      const id = await batchResponseId("s", "t1", prefix, "b_1\nq1");
      expect(SIGNED_ID.test(id) && id.startsWith(prefix)).toBe(true);
      expect(await batchResponseId("s", "t1", prefix, "b_1\nq1")).toBe(id);
      expect(await batchResponseId("s", "t1", prefix, "b_1\nq2")).not.toBe(id);
      expect(await batchResponseId("s", "t1", prefix, "b_2\nq1")).not.toBe(id);
      expect(await givenTo("s", "t1", id)).toBe(true);
      expect(await givenTo("s", "t2", id)).toBe(false);
      expect(await givenTo("other secret", "t1", id)).toBe(false);
    }
    // Another tenant's answer with the same batch and custom id has another id.
    expect(await batchResponseId("s", "t2", "cmpl-", "b_1\nq1")).not.toBe(await batchResponseId("s", "t1", "cmpl-", "b_1\nq1"));
  });

  it("refuse text of any other shape without error", async () => {
    for (const id of ["", "resp_", "chatcmpl-7b268614-0000-4000-8000-000000000000", "resp_0123456789abcdef01234567", `resp_${"g".repeat(48)}`, `resp_${"0".repeat(49)}`]) {
      expect(await givenTo("s", "t1", id)).toBe(false);
    }
  });

  it("a signed resp_ id names its stored response and its items, as the unsigned ones did", async () => {
    const id = await signedResponseId("s", "t1", "resp_");
    expect(RESPONSE_ID.test(id)).toBe(true);
    expect(responseOfItem(itemId("msg", id, 0))).toBe(id);
    expect(RESPONSE_ID.test("resp_0123456789abcdef01234567")).toBe(true); // stored before: still found
    expect(responseOfItem("msg_0123456789abcdef01234567_1")).toBe("resp_0123456789abcdef01234567");
  });
});

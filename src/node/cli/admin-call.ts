/** One call to the gateway's admin API from the CLI, its failures as CLI errors that say what the gateway said. */
import { CliError } from "./io.js";

/**
 * Calls `url` with the admin token and returns the body's text; a network failure or a
 * status other than 2xx is a CliError (exit 1) quoting the error envelope's message (or
 * the body's first 300 characters when it is not the envelope).
 *
 * @example const text = await adminCall(`${gateway}/admin/doctor`, token);
 */
export async function adminCall(url: string, token: string, init: { method?: string; body?: string } = {}): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method ?? "GET",
      headers: { authorization: `Bearer ${token}`, ...(init.body !== undefined ? { "content-type": "application/json" } : {}) },
      body: init.body,
    });
  } catch (e) {
    throw new CliError(`${url}: ${(e as Error).message}`, 1);
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { error: { message: string } }).error.message;
    } catch {
      // not the error envelope: the text as it came
    }
    throw new CliError(`${url} answered ${res.status}: ${message}`, 1);
  }
  return text;
}

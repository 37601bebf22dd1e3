/**
 * Text for a log line that came from a client or a server (a model name, an error body):
 * control characters escaped, so it can neither forge a line nor drive a terminal, and
 * cut to a length a log keeps.
 *
 * @example printable("strong\n[info] forged") // "strong\\u000a[info] forged"
 */
export function printable(text: string, max = 2000): string {
  const cut = text.length > max ? `${text.slice(0, max)}… (${text.length - max} more characters)` : text;
  return cut.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

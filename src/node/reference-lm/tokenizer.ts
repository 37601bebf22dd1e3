/**
 * The reference LMs' tokenizer; the vocabulary comes from the manifest. Every entry is one
 * character except the thinking model's two markers (`<think>`, `</think>`), which are one
 * token each: encoding is a greedy longest match, so a multi-character entry is tried
 * before single characters ("<" alone is not in any vocabulary, so this is unambiguous).
 */
export class CharTokenizer {
  private readonly ids: Map<string, number>;
  /** The entries longer than one character, longest first. */
  private readonly long: readonly string[];

  constructor(readonly vocab: readonly string[]) {
    this.ids = new Map(vocab.map((c, i) => [c, i]));
    this.long = vocab.filter((c) => [...c].length > 1).sort((a, b) => b.length - a.length);
  }

  /**
   * Token ids, or the first character the vocabulary lacks.
   *
   * @example new CharTokenizer(["\n", "1", "<think>"]).encode("<think>1") // { ids: [2, 1] }
   */
  encode(text: string): { ids: number[] } | { bad: string } {
    const ids: number[] = [];
    for (let i = 0; i < text.length; ) {
      const entry = this.long.find((s) => text.startsWith(s, i));
      if (entry !== undefined) {
        ids.push(this.ids.get(entry)!);
        i += entry.length;
        continue;
      }
      const ch = String.fromCodePoint(text.codePointAt(i)!);
      const id = this.ids.get(ch);
      if (id === undefined) return { bad: ch };
      ids.push(id);
      i += ch.length;
    }
    return { ids };
  }

  decode(ids: readonly number[]): string {
    return ids.map((i) => this.vocab[i]).join("");
  }

  /** The vocabulary for error messages: "0-9 + * = and newline". */
  describe(): string {
    return this.vocab.map((c) => (c === "\n" ? "newline" : c)).join(" ");
  }
}

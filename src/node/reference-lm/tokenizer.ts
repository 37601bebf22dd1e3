/** Character-level tokenizer for the reference LM; the vocabulary comes from the manifest. */
export class CharTokenizer {
  private readonly ids: Map<string, number>;

  constructor(readonly vocab: readonly string[]) {
    this.ids = new Map(vocab.map((c, i) => [c, i]));
  }

  /** Token ids, or the first character the vocabulary lacks. */
  encode(text: string): { ids: number[] } | { bad: string } {
    const ids: number[] = [];
    for (const ch of text) {
      const id = this.ids.get(ch);
      if (id === undefined) return { bad: ch };
      ids.push(id);
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

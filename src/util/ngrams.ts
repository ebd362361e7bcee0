/** Word-level n-gram statistics of texts (pure): the tokens diversity measures and the repetition penalty share. */

/** Word and punctuation tokens: "Reverse the word: lokem." -> Reverse, the, word, :, lokem, . */
export function queryTokens(text: string): string[] {
  return text.match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? [];
}

/** Distinct n-grams / all n-grams over the texts (n-grams do not cross texts); NaN when there is no n-gram. */
export function distinctN(texts: readonly string[], order: number): number {
  let total = 0;
  const seen = new Set<string>();
  for (const text of texts) {
    const t = queryTokens(text);
    for (let i = 0; i + order <= t.length; i++) {
      seen.add(t.slice(i, i + order).join('\u0000'));
      total++;
    }
  }
  return total ? seen.size / total : NaN;
}

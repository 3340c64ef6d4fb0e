/** A `%…%` ILIKE pattern that matches the text literally (its % _ \ are escaped). */
export function containsPattern(text: string): string {
  return `%${text.replace(/[%_\\]/g, (m) => `\\${m}`)}%`;
}

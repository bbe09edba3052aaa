/**
 * About `bytes` of Markdown (deterministic): "## Section n" headings, each followed by five
 * paragraphs of 40–119 pseudo-random words; `needle`, if given, is a paragraph of its own about
 * halfway through. For tests and benchmarks of the knowledge base.
 */
export function markdownDocument(bytes: number, needle?: string): string {
  const vocabulary = 'river stone harbour lantern orchard meadow copper violet thunder garden silver compass anchor ember willow granite beacon falcon maple tide'.split(' ');
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  const parts: string[] = [];
  let size = 0;
  let needlePlaced = needle === undefined;
  for (let section = 1; size < bytes; section++) {
    const heading = `## Section ${section}`;
    parts.push(heading);
    size += heading.length + 2;
    for (let p = 0; p < 5; p++) {
      const length = 40 + (next() % 80);
      const paragraph = Array.from({ length }, () => vocabulary[next() % vocabulary.length]).join(' ') + '.';
      parts.push(paragraph);
      size += paragraph.length + 2;
    }
    if (!needlePlaced && size > bytes / 2) {
      parts.push(needle!);
      needlePlaced = true;
    }
  }
  return parts.join('\n\n');
}

/**
 * Writes a small, valid PDF by hand (catalog, pages, Helvetica, one content stream per page, and a
 * cross-reference table with exact byte offsets), so tests exercise the real parser on a real file.
 * Each page is a list of paragraphs; each paragraph a list of lines. Lines of a paragraph are 14 pt
 * apart (12 pt text); paragraphs are separated by an extra 20 pt gap. Text is Latin-1 only.
 */
export function minimalPdf(pages: string[][][]): Buffer {
  const escape = (text: string) => text.replace(/[\\()]/g, (c) => `\\${c}`);
  const streams = pages.map((paragraphs) => {
    const ops = ['BT', '/F1 12 Tf', '72 740 Td'];
    paragraphs.forEach((lines, p) => {
      if (p > 0) ops.push('0 -34 Td');
      lines.forEach((line, l) => {
        if (l > 0) ops.push('0 -14 Td');
        ops.push(`(${escape(line)}) Tj`);
      });
    });
    ops.push('ET');
    return ops.join('\n');
  });
  const pageIds = pages.map((_, i) => 4 + i * 2);
  const objects: string[] = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${pageIds.map((id) => `${id} 0 R`).join(' ')}] /Count ${pages.length} >>`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
  ];
  streams.forEach((stream, i) => {
    const contentId = 5 + i * 2;
    objects.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ${contentId} 0 R /Resources << /Font << /F1 3 0 R >> >> >>`);
    objects.push(`<< /Length ${Buffer.byteLength(stream, 'latin1')} >>\nstream\n${stream}\nendstream`);
  });
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  out += offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`).join('');
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/**
 * Plain text out of the documents a knowledge base accepts: plain text, Markdown (kept as written:
 * it reads well and its words are what a search matches), HTML and PDF. Paragraph breaks are
 * preserved as blank lines, because the chunker packs paragraphs.
 */
import { extname } from 'node:path';
import { extractTextItems, getDocumentProxy } from 'unpdf';

export type DocumentKind = 'text' | 'markdown' | 'html' | 'pdf';

const BY_MIME: Record<string, DocumentKind> = {
  'text/plain': 'text',
  'text/markdown': 'markdown',
  'text/x-markdown': 'markdown',
  'text/html': 'html',
  'application/xhtml+xml': 'html',
  'application/pdf': 'pdf',
  'application/x-pdf': 'pdf',
  'application/json': 'text',
  'application/xml': 'text',
  'application/x-yaml': 'text',
  'application/yaml': 'text',
};

const BY_EXTENSION: Record<string, DocumentKind> = {
  '.txt': 'text',
  '.text': 'text',
  '.log': 'text',
  '.csv': 'text',
  '.tsv': 'text',
  '.json': 'text',
  '.xml': 'text',
  '.yaml': 'text',
  '.yml': 'text',
  '.md': 'markdown',
  '.markdown': 'markdown',
  '.mdx': 'markdown',
  '.html': 'html',
  '.htm': 'html',
  '.xhtml': 'html',
  '.pdf': 'pdf',
};

const MIME_BY_KIND: Record<DocumentKind, string> = {
  text: 'text/plain',
  markdown: 'text/markdown',
  html: 'text/html',
  pdf: 'application/pdf',
};

export const mimeTypeOfKind = (kind: DocumentKind): string => MIME_BY_KIND[kind];

const isPdf = (bytes: Uint8Array) => bytes.length >= 5 && Buffer.from(bytes.subarray(0, 5)).toString('latin1') === '%PDF-';

/** UTF-8 without NUL bytes in its first 64 KB: text, whatever its declared type. */
function looksLikeText(bytes: Uint8Array): boolean {
  const head = bytes.subarray(0, 64 * 1024);
  if (head.includes(0)) return false;
  try {
    // A multi-byte character cut at the 64 KB boundary is not an error.
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * What kind of document these bytes are: the PDF signature first (whatever the type says), then
 * the MIME type, then the file name's extension, then "is it UTF-8 text". Null: not supported.
 */
export function detectKind(bytes: Uint8Array, mimeType: string | null, fileName: string | null): DocumentKind | null {
  if (isPdf(bytes)) return 'pdf';
  const essence = (mimeType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  const declared = BY_MIME[essence] ?? (essence.startsWith('text/') ? 'text' : undefined);
  if (declared === 'pdf') return null;
  if (declared) return declared;
  const byName = fileName ? BY_EXTENSION[extname(fileName).toLowerCase()] : undefined;
  if (byName && byName !== 'pdf') return byName;
  const generic = essence === '' || essence === 'application/octet-stream';
  return generic && looksLikeText(bytes) ? 'text' : null;
}

/** Only ASCII whitespace (after a UTF-8 byte order mark, if any): checked before a text upload is accepted. */
export function isBlankText(bytes: Uint8Array): boolean {
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  for (let i = start; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte !== 0x20 && (byte < 0x09 || byte > 0x0d)) return false;
  }
  return true;
}

/** The charset of a Content-Type value or of an HTML document's <meta>, if any. */
function charsetOf(contentType: string | null, bytes: Uint8Array, html: boolean): string | null {
  const declared = /charset\s*=\s*["']?([\w.:-]+)/i.exec(contentType ?? '')?.[1];
  if (declared) return declared;
  if (!html) return null;
  const head = Buffer.from(bytes.subarray(0, 2048)).toString('latin1');
  return /<meta[^>]+charset\s*=\s*["']?([\w.:-]+)/i.exec(head)?.[1] ?? null;
}

function decodeText(bytes: Uint8Array, charset: string | null): string {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset ?? 'utf-8');
  } catch {
    decoder = new TextDecoder('utf-8');
  }
  // TextDecoder drops a UTF-8 byte order mark itself.
  return decoder.decode(bytes);
}

/** Thrown for a document that cannot be read (corrupt PDF, …); its message is shown to the user. */
export class ExtractionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExtractionError';
  }
}

/** The document's text, paragraphs separated by blank lines. */
export async function extractText(bytes: Uint8Array, kind: DocumentKind, contentType: string | null = null): Promise<string> {
  switch (kind) {
    case 'text':
    case 'markdown':
      return decodeText(bytes, charsetOf(contentType, bytes, false)).replace(/\r\n?/g, '\n');
    case 'html':
      return htmlToText(decodeText(bytes, charsetOf(contentType, bytes, true)));
    case 'pdf':
      return pdfToText(bytes);
  }
}

// ── PDF ───────────────────────────────────────────────────────────────────────────────────────

/** A vertical gap larger than this many line heights between two lines starts a new paragraph. */
const PARAGRAPH_GAP = 1.5;

/**
 * pdf.js (through unpdf, which bundles a build that runs without a worker or a canvas): the text
 * items of each page become lines; a gap between lines clearly wider than the line height, or a
 * new page, becomes a paragraph break.
 */
async function pdfToText(bytes: Uint8Array): Promise<string> {
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    // A copy: pdf.js may take over (detach) the buffer it is given.
    pdf = await getDocumentProxy(new Uint8Array(bytes), { verbosity: 0, isEvalSupported: false });
  } catch (error) {
    throw new ExtractionError(`Could not read the PDF: ${(error as Error).message}`);
  }
  try {
    const { items } = await extractTextItems(pdf);
    return items.map(pageText).filter(Boolean).join('\n\n');
  } catch (error) {
    throw new ExtractionError(`Could not extract the PDF's text: ${(error as Error).message}`);
  } finally {
    await pdf.destroy();
  }
}

type PdfItem = { str: string; y: number; height: number; hasEOL: boolean };
type PdfLine = { text: string; y: number; height: number };

function pageText(items: readonly PdfItem[]): string {
  const lines: PdfLine[] = [];
  let current: PdfLine | null = null;
  for (const item of items) {
    // An item well above or below the line in progress starts a new line even without an EOL mark.
    if (current && item.str.trim() && Math.abs(item.y - current.y) > Math.max(current.height, item.height) * 0.5) {
      lines.push(current);
      current = null;
    }
    if (item.str) {
      current ??= { text: '', y: item.y, height: item.height };
      current.text += item.str;
      current.height = Math.max(current.height, item.height);
    }
    if (item.hasEOL && current) {
      lines.push(current);
      current = null;
    }
  }
  if (current) lines.push(current);
  let text = '';
  let previous: PdfLine | null = null;
  for (const line of lines) {
    const content = line.text.replace(/\s+/g, ' ').trim();
    if (!content) continue;
    if (previous) {
      const gap = previous.y - line.y;
      const height = Math.max(previous.height, line.height, 1);
      // Upwards (a new column) or far below: a new paragraph.
      text += gap < 0 || gap > height * PARAGRAPH_GAP ? '\n\n' : '\n';
    }
    text += content;
    previous = line;
  }
  return text;
}

// ── HTML ──────────────────────────────────────────────────────────────────────────────────────

/** Elements whose content is not text to read. */
const SKIPPED = new Set(['script', 'style', 'noscript', 'template', 'svg', 'math', 'iframe', 'object', 'canvas', 'select', 'head', 'title']);
/** Elements that end a paragraph. */
const PARAGRAPH = new Set([
  'p', 'div', 'section', 'article', 'main', 'header', 'footer', 'nav', 'aside', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
  'ul', 'ol', 'dl', 'table', 'blockquote', 'pre', 'figure', 'figcaption', 'hr', 'form', 'fieldset', 'address',
  'details', 'summary', 'body', 'html', 'caption',
]);
/** Elements that end a line. */
const LINE = new Set(['br', 'li', 'tr', 'dt', 'dd', 'option', 'legend']);
const CELL = new Set(['td', 'th']);

/** A tag, with quoted attribute values that may hold `>`; comments and declarations separately. */
const TOKEN = /<!--[\s\S]*?(?:-->|$)|<!\[CDATA\[([\s\S]*?)(?:\]\]>|$)|<[!?][^>]*>|<\/?([a-zA-Z][a-zA-Z0-9:-]*)(?:[^>"']|"[^"]*"|'[^']*')*>/g;

const PARAGRAPH_MARK = '\u0000P';
const LINE_MARK = '\u0000L';

/**
 * Text of an HTML document as a reader sees it: no markup, scripts, styles or head (the <title>
 * comes first as its own paragraph), entities decoded, whitespace collapsed as a browser does
 * outside <pre>, and block elements turned into paragraph or line breaks.
 */
export function htmlToText(html: string): string {
  const out: string[] = [];
  const title = /<title[^>]*>([\s\S]*?)<\/title\s*>/i.exec(html)?.[1];
  if (title && decodeEntities(title).trim()) out.push(decodeEntities(title).replace(/\s+/g, ' ').trim(), PARAGRAPH_MARK);
  let preDepth = 0;
  let index = 0;
  const text = (raw: string) => {
    const decoded = decodeEntities(raw);
    out.push(preDepth > 0 ? decoded.replace(/\n/g, LINE_MARK) : decoded.replace(/[\s\u00a0]+/g, (ws) => (ws.includes('\u00a0') ? '\u00a0' : ' ')));
  };
  TOKEN.lastIndex = 0;
  for (let match = TOKEN.exec(html); match; match = TOKEN.exec(html)) {
    if (match.index > index) text(html.slice(index, match.index));
    index = TOKEN.lastIndex;
    if (match[1] !== undefined) {
      text(match[1]);
      continue;
    }
    const name = match[2]?.toLowerCase();
    if (!name) continue;
    const closing = match[0][1] === '/';
    if (!closing && SKIPPED.has(name) && !match[0].endsWith('/>')) {
      const end = new RegExp(`</${name}\\s*>`, 'gi');
      end.lastIndex = index;
      const found = end.exec(html);
      index = found ? end.lastIndex : html.length;
      TOKEN.lastIndex = index;
      continue;
    }
    if (name === 'pre') preDepth = Math.max(0, preDepth + (closing ? -1 : 1));
    if (PARAGRAPH.has(name)) out.push(PARAGRAPH_MARK);
    else if (LINE.has(name) && (name === 'br' || !closing)) out.push(LINE_MARK);
    else if (CELL.has(name) && !closing) out.push(' \t');
  }
  if (index < html.length) text(html.slice(index));
  return out
    .join('')
    .split(PARAGRAPH_MARK)
    .map((paragraph) =>
      paragraph
        .split(LINE_MARK)
        .map((line) => line.replace(/[ \t]+/g, (ws) => (ws.includes('\t') ? '\t' : ' ')).replace(/\u00a0/g, ' ').trim())
        .filter(Boolean)
        .join('\n'),
    )
    .filter(Boolean)
    .join('\n\n');
}

const LATIN1_NAMES =
  'nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 sup3 acute micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute Acirc Atilde Auml Aring AElig Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash Ugrave Uacute Ucirc Uuml Yacute THORN szlig agrave aacute acirc atilde auml aring aelig ccedil egrave eacute ecirc euml igrave iacute icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc uuml yacute thorn yuml'.split(' ');

const NAMED: Record<string, number> = {
  amp: 38, lt: 60, gt: 62, quot: 34, apos: 39,
  ...Object.fromEntries(LATIN1_NAMES.map((name, i) => [name, 160 + i])),
  OElig: 338, oelig: 339, Scaron: 352, scaron: 353, Yuml: 376, fnof: 402, circ: 710, tilde: 732,
  ensp: 8194, emsp: 8195, thinsp: 8201, zwnj: 8204, zwj: 8205, lrm: 8206, rlm: 8207, ndash: 8211, mdash: 8212,
  lsquo: 8216, rsquo: 8217, sbquo: 8218, ldquo: 8220, rdquo: 8221, bdquo: 8222, dagger: 8224, Dagger: 8225,
  bull: 8226, hellip: 8230, permil: 8240, prime: 8242, Prime: 8243, lsaquo: 8249, rsaquo: 8250, euro: 8364,
  trade: 8482, larr: 8592, uarr: 8593, rarr: 8594, darr: 8595, harr: 8596, lArr: 8656, rArr: 8658, hArr: 8660,
  minus: 8722, infin: 8734, asymp: 8776, ne: 8800, le: 8804, ge: 8805,
};

const ENTITY = /&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));?/g;

const fromCodePoint = (code: number) =>
  code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff) ? '\ufffd' : String.fromCodePoint(code);

/** Numeric references and the common named ones; an unknown name is left as written. */
export function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(ENTITY, (whole, decimal: string | undefined, hex: string | undefined, name: string | undefined) => {
    if (decimal) return fromCodePoint(Number(decimal));
    if (hex) return fromCodePoint(parseInt(hex, 16));
    const code = name !== undefined ? NAMED[name] : undefined;
    return code === undefined ? whole : String.fromCodePoint(code);
  });
}

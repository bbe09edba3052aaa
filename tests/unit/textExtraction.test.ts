import { describe, expect, it } from 'vitest';
import { decodeEntities, detectKind, extractText, ExtractionError, htmlToText, isBlankText } from '../../src/lib/textExtraction.js';
import { minimalPdf } from '../fakes/pdf.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');

describe('detectKind', () => {
  it('recognises a PDF by its signature, whatever it is called', () => {
    expect(detectKind(minimalPdf([[['x']]]), 'application/octet-stream', 'scan.bin')).toBe('pdf');
    expect(detectKind(minimalPdf([[['x']]]), 'text/plain', 'notes.txt')).toBe('pdf');
  });

  it('uses the MIME type, then the extension, then "is it UTF-8 text"', () => {
    expect(detectKind(bytes('# Title'), 'text/markdown', null)).toBe('markdown');
    expect(detectKind(bytes('<p>x</p>'), 'text/html; charset=utf-8', null)).toBe('html');
    expect(detectKind(bytes('a,b'), 'text/csv', null)).toBe('text');
    expect(detectKind(bytes('# Title'), 'application/octet-stream', 'README.md')).toBe('markdown');
    expect(detectKind(bytes('<p>x</p>'), '', 'page.HTM')).toBe('html');
    expect(detectKind(bytes('plain words'), 'application/octet-stream', 'noext')).toBe('text');
  });

  it('refuses binary content and a PDF type without a PDF inside', () => {
    expect(detectKind(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0]), 'image/png', 'a.png')).toBeNull();
    expect(detectKind(Buffer.from([0xff, 0xfe, 0x00, 0x41]), 'application/octet-stream', 'blob')).toBeNull();
    expect(detectKind(bytes('not a pdf'), 'application/pdf', 'fake.pdf')).toBeNull();
  });
});

describe('isBlankText', () => {
  it('is true for nothing, ASCII whitespace and a lone byte order mark', () => {
    expect(isBlankText(bytes(''))).toBe(true);
    expect(isBlankText(bytes(' \n\t\r\n'))).toBe(true);
    expect(isBlankText(bytes('\ufeff  '))).toBe(true);
    expect(isBlankText(bytes('  .'))).toBe(false);
  });
});

describe('htmlToText', () => {
  it('keeps the text a reader sees, with block elements as paragraph and line breaks', () => {
    const html = `<!DOCTYPE html><html><head><title>The  Quokka</title><style>p { color: red }</style>
      <script>var x = "<p>not text</p>";</script></head>
      <body><!-- a comment <p>hidden</p> -->
        <h1>Quokkas</h1>
        <p>The quokka is a   small
           marsupial.<br>It lives on <a href="/r" title="a > b">Rottnest</a> Island.</p>
        <ul><li>Herbivore</li><li>Nocturnal</li></ul>
        <table><tr><td>Weight</td><td>2.5 kg</td></tr></table>
        <pre>line one
  line two</pre>
        <noscript>Enable JavaScript</noscript>
      </body></html>`;
    expect(htmlToText(html)).toBe(
      [
        'The Quokka',
        'Quokkas',
        'The quokka is a small marsupial.\nIt lives on Rottnest Island.',
        'Herbivore\nNocturnal',
        'Weight\t2.5 kg',
        'line one\nline two',
      ].join('\n\n'),
    );
  });

  it('decodes entities and collapses non-breaking spaces to spaces', () => {
    expect(htmlToText('<p>Caf&eacute; &amp; cr&#232;me&nbsp;br&#xFB;l&eacute;e &mdash; &unknown; &lt;tag&gt;</p>')).toBe(
      'Café & crème brûlée — &unknown; <tag>',
    );
    expect(decodeEntities('&#0; &#xD800; &copy;2024 AT&T')).toBe('\ufffd \ufffd ©2024 AT&T');
  });

  it('survives broken markup', () => {
    expect(htmlToText('<p>unclosed <b>bold <script>alert(1)')).toBe('unclosed bold');
    expect(htmlToText('a < b and c > d')).toBe('a < b and c > d');
  });
});

describe('extractText', () => {
  it('reads a PDF with the real parser: lines kept, paragraph gaps and pages become blank lines', async () => {
    const pdf = minimalPdf([
      [['The quokka (Setonix brachyurus) is a small', 'macropod about the size of a cat.'], ['It is found on Rottnest Island.']],
      [['Second page paragraph.']],
    ]);
    expect(await extractText(pdf, 'pdf')).toBe(
      'The quokka (Setonix brachyurus) is a small\nmacropod about the size of a cat.\n\nIt is found on Rottnest Island.\n\nSecond page paragraph.',
    );
  });

  it('fails with an ExtractionError on a corrupt PDF', async () => {
    const corrupt = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(200, 0x41)]);
    await expect(extractText(corrupt, 'pdf')).rejects.toBeInstanceOf(ExtractionError);
  });

  it('decodes text in the declared charset', async () => {
    expect(await extractText(Buffer.from([0x63, 0x61, 0x66, 0xe9]), 'text', 'text/plain; charset=iso-8859-1')).toBe('café');
    expect(await extractText(bytes('\ufeffa\r\nb'), 'markdown')).toBe('a\nb');
  });
});

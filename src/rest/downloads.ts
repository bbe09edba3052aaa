/** Types a browser shows without running anything; everything else (HTML, SVG, XML, scripts…) downloads. */
const INLINE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'text/plain', 'application/pdf']);

export const showsInline = (mimeType: string) => INLINE_TYPES.has(mimeType) || /^(audio|video)\//.test(mimeType);

/** RFC 6266 / RFC 5987: an ASCII fallback name plus the exact UTF-8 one. */
export function contentDisposition(type: 'inline' | 'attachment', name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${type}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { notFound } from '../es/errors.js';
import { defineRawOperation, type Operation } from './operation.js';

const require = createRequire(import.meta.url);
/**
 * swagger-ui-dist ships the built Swagger UI; its folder is served as it is. Located through its
 * package.json: requiring the package itself would load the whole browser bundle into the server.
 */
const swaggerUiFolder = dirname(require.resolve('swagger-ui-dist/package.json'));

/** The assets the page loads: no inline script, so a strict CSP in front of it keeps working. */
const ASSETS = new Set(['swagger-ui.css', 'index.css', 'swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js', 'favicon-32x32.png', 'favicon-16x16.png']);

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>KinBot API reference</title>
  <link rel="icon" type="image/png" href="/api/docs/favicon-32x32.png" sizes="32x32">
  <link rel="stylesheet" href="/api/docs/swagger-ui.css">
  <link rel="stylesheet" href="/api/docs/index.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/api/docs/swagger-ui-bundle.js"></script>
  <script src="/api/docs/swagger-ui-standalone-preset.js"></script>
  <script src="/api/docs/init.js"></script>
</body>
</html>
`;

/**
 * Same origin, so "Try it out" sends the reader's session cookie; an API key goes in "Authorize".
 * With some 150 operations the page opens on the list of tags (each one expands) with a filter box.
 */
const init = `window.ui = SwaggerUIBundle({
  url: '/api/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  docExpansion: 'none',
  filter: true,
  withCredentials: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: 'StandaloneLayout',
});
`;

/** A human-readable API reference (Swagger UI) over GET /api/openapi.json; public like the document. */
export function docsOperations(): Operation[] {
  const tags = ['Operations'];
  return [
    defineRawOperation({
      name: 'apiDocs',
      summary: 'API reference page (Swagger UI over /api/openapi.json)',
      method: 'get',
      path: '/api/docs',
      auth: 'public',
      tags,
      openapi: { responses: { '200': { description: 'HTML page', content: { 'text/html': {} } } } },
      async raw(_req, res) {
        res.type('html').send(page);
      },
    }),
    defineRawOperation({
      name: 'apiDocsAsset',
      summary: 'Scripts and styles of the API reference page',
      method: 'get',
      path: '/api/docs/:asset',
      auth: 'public',
      params: z.object({ asset: z.string() }),
      tags,
      openapi: { responses: { '200': { description: 'A static asset' } } },
      async raw(req, res) {
        const asset = String(req.params.asset);
        if (asset === 'init.js') return void res.type('js').send(init);
        if (!ASSETS.has(asset)) throw notFound('NOT_FOUND', 'No such asset');
        await new Promise<void>((resolve, reject) =>
          res.sendFile(join(swaggerUiFolder, asset), { maxAge: '1d' }, (error) => (error ? reject(error) : resolve())),
        );
      },
    }),
  ];
}

/**
 * GET /openapi.json (the document) and GET /docs (Swagger UI), both without auth. The
 * page's assets come from the swagger-ui-dist package on this server, never a CDN:
 * the docs work offline and behind firewalls. Only the files the page uses are
 * served (the package's own index.html would load the Petstore example).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import express, { Router } from 'express';
import type { ApiContext } from '../context.js';
import { createOpenApiDocument } from './document.js';

const SWAGGER_UI_DIR = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const ASSETS = new Set(['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png', 'favicon-16x16.png']);

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>claude-queue API</title>
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <link rel="stylesheet" href="/docs/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="/docs/favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;

// A file, not an inline script, so the page's CSP can forbid inline scripts.
// validatorUrl: null, or the page would send the document to validator.swagger.io.
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
`;

/** Swagger UI needs inline styles and data: images; nothing may come from elsewhere. */
const PAGE_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

export function docsRouter(ctx: Pick<ApiContext, 'config' | 'jobRequestSchema'>): Router {
  // Built once: it depends on the configuration only.
  const document = JSON.stringify(createOpenApiDocument(ctx));
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(document);
  });
  router.get('/docs', (_req, res) => {
    res.set({ 'Content-Security-Policy': PAGE_CSP, 'Cache-Control': 'no-cache' }).type('html').send(PAGE);
  });
  router.get('/docs/init.js', (_req, res) => {
    res.set('Cache-Control', 'no-cache').type('text/javascript').send(INIT);
  });
  const assets = express.static(SWAGGER_UI_DIR, { index: false, redirect: false, maxAge: '1d' });
  router.use('/docs', (req, res, next) => (ASSETS.has(req.path.slice(1)) ? assets(req, res, next) : next()));
  return router;
}

/** Routes of the service itself: probes, metrics, this document and its page. */
import { jsonResponse, schemaRef, type Endpoint } from './operations.js';

const text = (description: string, mediaType: string) => ({ description, content: { [mediaType]: { schema: { type: 'string' as const } } } });

export function serviceEndpoints(): Endpoint[] {
  return [
    {
      method: 'get',
      path: '/healthz',
      operationId: 'health',
      auth: 'public',
      tag: 'Service',
      summary: 'Liveness: the process is up',
      responses: { '200': jsonResponse('Up', schemaRef('Health')) },
    },
    {
      method: 'get',
      path: '/readyz',
      operationId: 'ready',
      auth: 'public',
      tag: 'Service',
      summary: 'Readiness: Redis answers, so requests can be served',
      responses: { '200': jsonResponse('Ready', schemaRef('Health')) },
      errors: ['unavailable'],
    },
    {
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      auth: 'metrics',
      tag: 'Service',
      summary: 'Prometheus metrics',
      description:
        'Process metrics and the deployment’s gauges (queues by state, intakes, per-tenant running and queued), read from Redis at scrape time. ' +
        'With `METRICS_TOKEN` set, only for `Authorization: Bearer <METRICS_TOKEN>`; it must be set when `HOST` is not loopback (the API refuses to start without it).',
      responses: { '200': text('The Prometheus text format', 'text/plain') },
      errors: ['unauthorized'],
    },
    {
      method: 'get',
      path: '/admin/queues',
      operationId: 'queueBoard',
      auth: 'board',
      tag: 'Service',
      summary: 'The queue dashboard (Bull Board)',
      description:
        'Bull Board’s own UI over every queue, behind HTTP Basic: a login of `BOARD_USERS` (never the `ADMIN_TOKEN`); without `BOARD_USERS` the board is off (404). ' +
        'Its JSON API under `/admin/queues/api/` is Bull Board’s and not described here; its changes need a read-write login and the same origin (else 403 `forbidden`).',
      responses: { '200': text('The board', 'text/html') },
      errors: ['not_found'],
    },
    {
      method: 'get',
      path: '/openapi.json',
      operationId: 'openApiDocument',
      auth: 'public',
      tag: 'Service',
      summary: 'This document (OpenAPI 3.1)',
      description: 'Built at start from the schemas the API validates with, under this deployment’s limits.',
      responses: { '200': jsonResponse('The OpenAPI document', schemaRef('OpenApiDocument')) },
    },
    {
      method: 'get',
      path: '/docs',
      operationId: 'docs',
      auth: 'public',
      tag: 'Service',
      summary: 'This document as a page (Swagger UI, served locally: works offline)',
      responses: { '200': text('The page', 'text/html') },
    },
  ];
}

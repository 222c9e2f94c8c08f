/** /v1/batches: many prompts in one request. */
import { batchListQuery } from '../routes/batches.js';
import { jsonResponse, parameterRef, schemaRef, type Endpoint } from './operations.js';
import { queryParameters } from './queryParameters.js';

const batchId = parameterRef('BatchId');

export function batchesEndpoints(): Endpoint[] {
  return [
    {
      method: 'post',
      path: '/v1/batches',
      operationId: 'createBatch',
      auth: 'tenant',
      tag: 'Batches',
      summary: 'Submit many prompts at once',
      description:
        'Each request is a job (`GET /v1/jobs/{id}`) with its batch’s id and its `custom_id`. All are enqueued in one step, or none: every invalid request is named by its index and field in `errors`. Within the tenant, batch jobs wait behind its ordinary jobs; across tenants they share as any job does.',
      parameters: [parameterRef('IdempotencyKey')],
      body: { schema: schemaRef('BatchRequest'), required: true, description: 'As `application/json`, or as `application/x-ndjson`: one request per line (errors then name the line)' },
      responses: {
        '202': jsonResponse('The batch, in progress', schemaRef('Batch'), ['Location']),
        '200': jsonResponse('The batch a repeated `Idempotency-Key` created (`Idempotent-Replayed: true`)', schemaRef('Batch'), ['Location', 'Idempotent-Replayed']),
      },
      errors: [
        'invalid_request',
        'invalid_json',
        'body_too_large',
        'unsupported_media_type',
        'queue_full',
        'budget_exhausted',
        'storage_full',
        'idempotency_key_in_progress',
        'idempotency_key_reused',
        { code: 'expired', status: 410 },
      ],
    },
    {
      method: 'get',
      path: '/v1/batches',
      operationId: 'listBatches',
      auth: 'tenant',
      tag: 'Batches',
      summary: "List the tenant's batches, newest first",
      parameters: queryParameters(batchListQuery, { limit: 'Batches per page', cursor: '`next_cursor` of the previous page' }),
      responses: { '200': jsonResponse('A page of batches', schemaRef('BatchList')) },
      errors: ['invalid_request'],
    },
    {
      method: 'get',
      path: '/v1/batches/{id}',
      operationId: 'getBatch',
      auth: 'tenant',
      tag: 'Batches',
      summary: 'Read a batch and its live counts',
      parameters: [batchId],
      responses: { '200': jsonResponse('The batch', schemaRef('Batch')) },
      errors: ['not_found'],
    },
    {
      method: 'get',
      path: '/v1/batches/{id}/results',
      operationId: 'getBatchResults',
      auth: 'tenant',
      tag: 'Batches',
      summary: 'The results of the requests that have finished, as JSON lines in submission order',
      description: 'One line per finished request: `{custom_id, job_id, status, result, error}`. Usable while the batch runs: requests not finished yet are left out.',
      parameters: [batchId],
      responses: { '200': { description: 'JSON lines', content: { 'application/x-ndjson': { schema: { type: 'string' } } } } },
      errors: ['not_found'],
    },
    {
      method: 'get',
      path: '/v1/batches/{id}/deliveries',
      operationId: 'listBatchDeliveries',
      auth: 'tenant',
      tag: 'Webhooks',
      summary: "The batch's own webhook delivery attempts (batch.ended), oldest first",
      description: "Its requests' deliveries are on each job (`GET /v1/jobs/{id}/deliveries`).",
      parameters: [batchId],
      responses: {
        '200': jsonResponse('Every attempt so far', { type: 'object', properties: { data: { type: 'array', items: schemaRef('DeliveryAttempt') } }, required: ['data'] }),
      },
      errors: ['not_found'],
    },
    {
      method: 'post',
      path: '/v1/batches/{id}/cancel',
      operationId: 'cancelBatch',
      auth: 'tenant',
      tag: 'Batches',
      summary: 'Cancel a batch: queued requests never start, running ones are stopped',
      description: 'The batch is `canceling` until every request has ended, then `ended`.',
      parameters: [batchId],
      responses: { '200': jsonResponse('The batch, canceling or ended', schemaRef('Batch')) },
      errors: ['not_found', 'job_already_final'],
    },
    {
      method: 'post',
      path: '/v1/batches/{id}/retry',
      operationId: 'retryBatch',
      auth: 'tenant',
      tag: 'Batches',
      summary: 'Run again only the requests that failed, keeping their custom_ids',
      description: 'Once the batch has ended. Each failed request’s job is queued again (its attempt history kept); the batch is `in_progress` until they end. The answer is the batch with `retried`: how many.',
      parameters: [batchId],
      responses: { '200': jsonResponse('The batch, in progress again', schemaRef('Batch')) },
      errors: ['not_found', 'job_already_final'],
    },
  ];
}

/** The tenant's routes: /v1/jobs… (jobs, their events and webhook deliveries) and /v1/usage. */
import { jobListQuery } from '../jobListQuery.js';
import { REDELIVERIES_PER_MINUTE } from '../jobs/redeliveries.js';
import { HEARTBEAT_MS, RECONNECT_HINT_MS } from '../routes/jobEvents.js';
import { DEFAULT_RANGE_DAYS, MAX_RANGE_DAYS, usageQuery } from '../routes/usage.js';
import { jsonResponse, parameterRef, schemaRef, type Endpoint } from './operations.js';
import { queryParameters } from './queryParameters.js';

export const usageQueryDescriptions = {
  from: `First UTC day, \`YYYY-MM-DD\` (default: ${DEFAULT_RANGE_DAYS - 1} days before \`to\`); at most ${MAX_RANGE_DAYS} days before \`to\``,
  to: 'Last UTC day, included (default: today)',
};

const SSE_EXAMPLE = [
  ': stream of job events',
  `retry: ${RECONNECT_HINT_MS}`,
  '',
  'id: 1738324800000-0',
  'event: status',
  'data: {"status":"running","attempt":1}',
  '',
  'id: 1738324801200-0',
  'event: text',
  'data: {"text":"Hello"}',
  '',
  'id: 1738324801900-0',
  'event: status',
  'data: {"status":"succeeded"}',
  '',
  'event: result',
  'data: {"id":"01a21351-979d-791e-9bd2-b0a795fc6dc9","status":"succeeded", …}',
  '',
  '',
].join('\n');

export function jobsEndpoints(): Endpoint[] {
  const jobAnswer = (description: string, headers: string[] = []) => jsonResponse(description, schemaRef('Job'), headers);
  return [
    {
      method: 'post',
      path: '/v1/jobs',
      operationId: 'submitJob',
      auth: 'tenant',
      tag: 'Jobs',
      summary: 'Submit a prompt',
      description:
        'Validates the request, records the job and queues it under the tenant’s limits and fair share. Unknown fields are refused. ' +
        'With `Prefer: wait=N` the answer waits up to N seconds for the job to end. ' +
        'With `Idempotency-Key`, the same key and body answer the original job for `IDEMPOTENCY_TTL_HOURS`.',
      parameters: [parameterRef('Prefer'), parameterRef('IdempotencyKey')],
      body: { schema: schemaRef('JobRequest'), example: { prompt: 'Say hello in five words.', max_turns: 1, metadata: { ticket: 42 } } },
      responses: {
        '200': jobAnswer(
          'The job: ended within `Prefer: wait` (`Preference-Applied`), or the original job of a repeated `Idempotency-Key` (`Idempotent-Replayed: true`)',
          ['Location', 'Preference-Applied', 'Idempotent-Replayed'],
        ),
        '202': jobAnswer('Accepted: the job, queued (or still running after `Prefer: wait`)', ['Location', 'Preference-Applied']),
      },
      errors: [
        'invalid_request',
        'invalid_json',
        'body_too_large',
        'unsupported_media_type',
        'session_not_found',
        'idempotency_key_in_progress',
        { code: 'expired', status: 410 },
        'idempotency_key_reused',
        'queue_full',
        'too_many_streams',
        'budget_exhausted',
        'storage_full',
      ],
    },
    {
      method: 'get',
      path: '/v1/jobs',
      operationId: 'listJobs',
      auth: 'tenant',
      tag: 'Jobs',
      summary: "List the tenant's jobs, newest first",
      parameters: queryParameters(jobListQuery, {
        status: 'Only jobs with this status',
        limit: 'Jobs per page',
        cursor: '`next_cursor` of the previous page',
      }),
      responses: { '200': jsonResponse('A page of jobs', schemaRef('JobList')) },
      errors: ['invalid_request'],
    },
    {
      method: 'get',
      path: '/v1/jobs/{id}',
      operationId: 'getJob',
      auth: 'tenant',
      tag: 'Jobs',
      summary: 'Read a job',
      description: 'With `Prefer: wait=N`, waits up to N seconds for the job to end (long-poll), then answers it as it stands.',
      parameters: [parameterRef('JobId'), parameterRef('Prefer')],
      responses: { '200': jobAnswer('The job', ['Preference-Applied']) },
      errors: ['not_found', { code: 'expired', status: 404 }, 'too_many_streams'],
    },
    {
      method: 'get',
      path: '/v1/jobs/{id}/events',
      operationId: 'streamJobEvents',
      auth: 'tenant',
      tag: 'Jobs',
      summary: "Watch a job's events (Server-Sent Events)",
      description: [
        'A `text/event-stream` of the job’s events, from the first (or after `Last-Event-ID`), as they happen:',
        '',
        '- `status` (with an `id`): the job changed status; data: [JobStatusEvent](#/components/schemas/JobStatusEvent).',
        '- `text` (with an `id`): text the CLI produced; data: [JobTextEvent](#/components/schemas/JobTextEvent). With `stream: true` in the request, token by token.',
        '- `result` (no `id`): the job once it is final, data: [Job](#/components/schemas/Job); then the stream ends.',
        '',
        `Comment lines (\`: heartbeat\`) every ${HEARTBEAT_MS / 1000} s keep idle connections open. Event ids increase per job: ` +
          'a client that reconnects with `Last-Event-ID` (or `?last_event_id=`, for clients that cannot set headers) gets only what it missed.',
        '',
        'A stream lasts at most `STREAM_MAX_SECONDS`, then ends without a `result` after a comment line; ' +
          `its \`retry: ${RECONNECT_HINT_MS}\` (sent first) is how long to wait before reconnecting with \`Last-Event-ID\`. ` +
          'Streams and `Prefer: wait` requests count against the tenant’s `MAX_STREAMS_PER_TENANT`, across all API processes.',
      ].join('\n'),
      parameters: [parameterRef('JobId'), parameterRef('LastEventId'), parameterRef('LastEventIdQuery')],
      responses: {
        '200': {
          description: 'The event stream; it ends after the `result` event',
          headers: { 'Cache-Control': { schema: { type: 'string' }, example: 'no-cache' } },
          content: {
            'text/event-stream': {
              schema: {
                type: 'string',
                description: 'Server-Sent Events: `status`, `text`, then one `result`',
                'x-events': { status: schemaRef('JobStatusEvent'), text: schemaRef('JobTextEvent'), result: schemaRef('Job') },
              } as never,
              example: SSE_EXAMPLE,
            },
          },
        },
      },
      errors: ['not_found', { code: 'expired', status: 404 }, 'too_many_streams'],
    },
    {
      method: 'post',
      path: '/v1/jobs/{id}/cancel',
      operationId: 'cancelJob',
      auth: 'tenant',
      tag: 'Jobs',
      summary: 'Cancel a job',
      description: 'A running job is stopped on whichever worker holds it; a waiting one leaves the queue.',
      parameters: [parameterRef('JobId')],
      responses: { '200': jobAnswer('The job, now `canceled`') },
      errors: ['not_found', { code: 'expired', status: 404 }, 'job_already_final'],
    },
    {
      method: 'get',
      path: '/v1/jobs/{id}/deliveries',
      operationId: 'listJobDeliveries',
      auth: 'tenant',
      tag: 'Webhooks',
      summary: "The job's webhook delivery attempts, oldest first",
      parameters: [parameterRef('JobId')],
      responses: {
        '200': jsonResponse('Every attempt so far', { type: 'object', properties: { data: { type: 'array', items: schemaRef('DeliveryAttempt') } }, required: ['data'] }),
      },
      errors: ['not_found', { code: 'expired', status: 404 }],
    },
    {
      method: 'post',
      path: '/v1/jobs/{id}/deliveries/redeliver',
      operationId: 'redeliverJobWebhooks',
      auth: 'tenant',
      tag: 'Webhooks',
      summary: "Send the job's webhook events again",
      description:
        'Each event goes again with its original `webhook-id` (receivers dedupe on it), as a new delivery with attempts of its own. ' +
        `One redelivery per job and webhook URL at a time (\`409 redelivery_in_progress\` while the previous one has deliveries waiting or running), and at most ${REDELIVERIES_PER_MINUTE} per tenant per minute.`,
      parameters: [parameterRef('JobId')],
      responses: {
        '202': jsonResponse('The deliveries queued', {
          type: 'object',
          properties: {
            data: {
              type: 'array',
              items: {
                type: 'object',
                properties: { id: { type: 'string', description: 'The `webhook-id`' }, type: { type: 'string', examples: ['job.succeeded'] } },
                required: ['id', 'type'],
              },
            },
          },
          required: ['data'],
        }),
      },
      errors: ['not_found', { code: 'expired', status: 404 }, 'webhook_not_configured', 'redelivery_in_progress', 'too_many_redeliveries'],
    },
    {
      method: 'get',
      path: '/v1/usage',
      operationId: 'getUsage',
      auth: 'tenant',
      tag: 'Usage',
      summary: "The tenant's usage per UTC day",
      description: `Finished jobs, cost and tokens per UTC day; default the last ${DEFAULT_RANGE_DAYS} days, at most ${MAX_RANGE_DAYS}. Days without finished jobs are left out.`,
      parameters: queryParameters(usageQuery, usageQueryDescriptions),
      responses: { '200': jsonResponse('Usage', schemaRef('Usage')) },
      errors: ['invalid_request'],
    },
  ];
}

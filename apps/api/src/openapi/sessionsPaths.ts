/** /v1/sessions: a tenant's conversations. */
import { sessionListQuery } from '../routes/sessions.js';
import { jsonResponse, parameterRef, schemaRef, type Endpoint } from './operations.js';
import { queryParameters } from './queryParameters.js';

export function sessionsEndpoints(): Endpoint[] {
  return [
    {
      method: 'get',
      path: '/v1/sessions',
      operationId: 'listSessions',
      auth: 'tenant',
      tag: 'Sessions',
      summary: "List the tenant's sessions, most recently used first",
      parameters: queryParameters(sessionListQuery, { limit: 'Sessions per page', cursor: '`next_cursor` of the previous page' }),
      responses: { '200': jsonResponse('A page of sessions', schemaRef('SessionList')) },
      errors: ['invalid_request'],
    },
    {
      method: 'get',
      path: '/v1/sessions/{id}',
      operationId: 'getSession',
      auth: 'tenant',
      tag: 'Sessions',
      summary: 'Read a session: its turns in order, its size and limit, last use and expiry',
      parameters: [parameterRef('SessionId')],
      responses: { '200': jsonResponse('The session', schemaRef('Session')) },
      errors: ['session_not_found'],
    },
    {
      method: 'delete',
      path: '/v1/sessions/{id}',
      operationId: 'deleteSession',
      auth: 'tenant',
      tag: 'Sessions',
      summary: 'Delete a session and its stored state everywhere; later follow-ups get `session_not_found`',
      parameters: [parameterRef('SessionId')],
      responses: { '204': { description: 'Deleted' } },
      errors: ['session_not_found'],
    },
  ];
}

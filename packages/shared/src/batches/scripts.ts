/**
 * A batch, submitted in one step: the batch's hash and every one of its jobs (record,
 * tenant index, first status event, place in the tenant's intake, the bytes it holds),
 * or nothing (the tenant gone, disabled, held by its budget, or without room for all of
 * them under max_queued or max_stored_bytes). Answers as jobLife/scripts.ts SUBMIT does.
 *
 * What every job's record has alike comes once (common_fields: a JSON object of hash
 * fields); then each job as four rest arguments: its id, custom_id, request and metadata
 * (JSON, as serializeRecord writes them). Four arguments a job, not thirty: encoding the
 * arguments is most of what sending 10,000 jobs costs.
 */
import { luaScript } from '../redisScript.js';
import { SCHEDULING_LIB } from '../scheduler/scripts.js';
import { USAGE_LIB } from '../usage/scripts.js';

export const SUBMIT_BATCH = luaScript('batch_submit', {
  lib: `${SCHEDULING_LIB}\n${USAGE_LIB}`,
  keys: ['batch', 'batch_jobs', 'tenant_batches', 'tenant', 'intake', 'tenant_jobs', 'sched_tenants', 'sched_lastv', 'sched_vnow', 'sched_seq', 'stored', 'stored_until'],
  args: ['batch_id', 'tenant_id', 'jobs', 'priority', 'defaults', 'retention', 'status_event', 'job_cap', 'record_pattern', 'events_pattern', 'created_ms', 'batch_fields', 'common_fields'],
  body: `
if redis.call('exists', tenant) == 0 then return { 'no_tenant' } end
if redis.call('hget', tenant, 'disabled') == '1' then return { 'disabled' } end
local n = tonumber(jobs)
local L = limits_of(tenant, defaults_of(defaults))
local queued = redis.call('zcard', intake)
if L.queued and queued + n > L.queued then return { 'full', queued, L.queued } end
local now = tonumber(created_ms)
if L.hold > now then return { 'budget', L.hold } end
local common = {}
local common_bytes = 0
for name, value in pairs(cjson.decode(common_fields)) do
  common[#common + 1] = name
  common[#common + 1] = value
  common_bytes = common_bytes + #name + #value
end
-- Each job's own fields: id, custom_id, request, metadata (names and values).
local OWN_NAMES = #'id' + #'custom_id' + #'request' + #'metadata'
local bytes = n * (common_bytes + OWN_NAMES) + bytes_of(rest_start, rest_start + 4 * n - 1)
local held = stored_now(stored, stored_until, now, cjson.encode({ record_pattern, events_pattern }))
if L.stored and held + bytes > L.stored then return { 'storage_full', held, L.stored } end
local function key_of(pattern, id)
  local i, j = string.find(pattern, '{job}', 1, true)
  return string.sub(pattern, 1, i - 1) .. id .. string.sub(pattern, j + 1)
end
local fields = cjson.decode(batch_fields)
for name, value in pairs(fields) do redis.call('hset', batch, name, value) end
redis.call('hset', batch, 'queued', n, 'running', 0, 'succeeded', 0, 'failed', 0, 'canceled', 0, 'total', n)
redis.call('zadd', tenant_batches, created_ms, batch_id)
local at = rest_start
for _ = 1, n do
  local job_id = ARGV[at]
  local record = key_of(record_pattern, job_id)
  redis.call('hset', record, 'id', job_id, 'custom_id', ARGV[at + 1], 'request', ARGV[at + 2], 'metadata', ARGV[at + 3], unpack(common))
  store_bytes(stored, stored_until, job_id, common_bytes + OWN_NAMES + bytes_of(at, at + 3))
  at = at + 4
  redis.call('zadd', tenant_jobs, 0, job_id)
  local job_events = key_of(events_pattern, job_id)
  redis.call('xadd', job_events, 'MAXLEN', '~', job_cap, '*', 'type', 'status', 'data', status_event)
  redis.call('expire', job_events, retention)
  join_intake(intake, sched_tenants, sched_lastv, sched_vnow, sched_seq, tenant_id, job_id, priority)
  redis.call('rpush', batch_jobs, job_id)
end
return { 'queued', queued + n }
`,
});

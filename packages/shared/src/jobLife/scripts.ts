/**
 * The job life's Lua scripts: each move of a job is one of these, so its record, its
 * events, its usage and its place in the scheduler change together or not at all.
 * What each move does is decided by the record's current status and the status it
 * moves to (the table in moves.ts); `from` lists the statuses the move accepts.
 *
 * Record fields arrive as field/value pairs after the named arguments (`rest_start`).
 */
import { luaScript } from '../redisScript.js';
import { SCHEDULING_LIB } from '../scheduler/scripts.js';
import { USAGE_LIB } from '../usage/scripts.js';

const LIFE_LIB = `${SCHEDULING_LIB}
${USAGE_LIB}
local function status_in(current, csv)
  for s in string.gmatch(csv, '[^,]+') do if s == current then return true end end
  return false
end

local function set_fields(record, first)
  if first <= #ARGV then redis.call('hset', record, unpack(ARGV, first, #ARGV)) end
end

-- Every move is announced: appended to the job's stream, and its id on the events channel.
local function announce(job_events, channel, job_id, status_event, job_cap, retention)
  redis.call('xadd', job_events, 'MAXLEN', '~', job_cap, '*', 'type', 'status', 'data', status_event)
  redis.call('expire', job_events, retention)
  redis.call('publish', channel, job_id)
end

-- A batch's job counts its moves: one fewer in the status it left, one more in the one
-- it reached; the batch ends (once) when none of its jobs is queued or running, and a
-- reopened job opens it again (its next end is announced as ending 2, 3...). An ended batch (its hash and job list) expires with its
-- jobs' records. batch_patterns: keys.ts's batch and batch jobs keys, with '{batch}', as JSON.
local function count_batch(record, from, to, batch_patterns, now_iso, events, service_cap, retention)
  local batch_id = redis.call('hget', record, 'batch_id')
  if not batch_id then return end
  local patterns = cjson.decode(batch_patterns)
  local function key_of(pattern)
    local i, j = string.find(pattern, '{batch}', 1, true)
    return string.sub(pattern, 1, i - 1) .. batch_id .. string.sub(pattern, j + 1)
  end
  local batch, batch_jobs = key_of(patterns[1]), key_of(patterns[2])
  if redis.call('exists', batch) == 0 then return end
  if from ~= to then
    redis.call('hincrby', batch, from, -1)
    redis.call('hincrby', batch, to, 1)
  end
  local open = tonumber(redis.call('hget', batch, 'queued') or '0') + tonumber(redis.call('hget', batch, 'running') or '0')
  local status = redis.call('hget', batch, 'status')
  if open == 0 and status ~= 'ended' then
    redis.call('hset', batch, 'status', 'ended', 'ended_at', now_iso)
    redis.call('expire', batch, retention)
    redis.call('expire', batch_jobs, retention)
    local ending = redis.call('hincrby', batch, 'endings', 1)
    redis.call('xadd', events, 'MAXLEN', '~', service_cap, '*', 'type', 'batch.ended', 'batch_id', batch_id,
      'tenant_id', redis.call('hget', batch, 'tenant_id'), 'attempt', ending)
  elseif open > 0 and status == 'ended' then
    redis.call('hset', batch, 'status', 'in_progress')
    redis.call('hdel', batch, 'ended_at')
    redis.call('persist', batch)
    redis.call('persist', batch_jobs)
  end
end

-- Starts and endings also go to the service-wide stream that webhook delivery reads.
local function announce_service(events, service_cap, type, record, job_id)
  redis.call('xadd', events, 'MAXLEN', '~', service_cap, '*', 'type', type, 'job_id', job_id,
    'tenant_id', redis.call('hget', record, 'tenant_id'), 'attempt', redis.call('hget', record, 'attempts'))
end
`;

/**
 * submit: writes a new job's record and puts it in its tenant's intake, unless the
 * tenant is gone, disabled, at max_queued, held by its budget or out of room for the
 * record under max_stored_bytes; a follow-up (in_session '1') also takes its place in
 * its session's turns, after every turn submitted before it. Returns {'queued', queued
 * after}, {'full', queued, max}, {'budget', held until ms}, {'storage_full', stored,
 * max}, {'disabled'} or {'no_tenant'}.
 */
export const SUBMIT = luaScript('job_submit', {
  lib: LIFE_LIB,
  keys: ['record', 'tenant_jobs', 'job_events', 'tenant', 'intake', 'sched_tenants', 'sched_lastv', 'sched_vnow', 'sched_seq', 'session_turns', 'stored', 'stored_until'],
  args: ['job_id', 'tenant_id', 'priority', 'defaults', 'retention', 'status_event', 'channel', 'job_cap', 'in_session', 'session_ttl', 'now_ms', 'stored_patterns'],
  body: `
if redis.call('exists', tenant) == 0 then return { 'no_tenant' } end
if redis.call('hget', tenant, 'disabled') == '1' then return { 'disabled' } end
local L = limits_of(tenant, defaults_of(defaults))
local now = tonumber(now_ms)
local queued = redis.call('zcard', intake)
if L.queued and queued >= L.queued then return { 'full', queued, L.queued } end
if L.hold > now then return { 'budget', L.hold } end
local bytes = bytes_of(rest_start, #ARGV)
local held = stored_now(stored, stored_until, now, stored_patterns)
if L.stored and held + bytes > L.stored then return { 'storage_full', held, L.stored } end
set_fields(record, rest_start)
store_bytes(stored, stored_until, job_id, bytes)
redis.call('zadd', tenant_jobs, 0, job_id)
announce(job_events, channel, job_id, status_event, job_cap, retention)
join_intake(intake, sched_tenants, sched_lastv, sched_vnow, sched_seq, tenant_id, job_id, priority)
if in_session == '1' then
  redis.call('rpush', session_turns, job_id)
  redis.call('expire', session_turns, session_ttl)
end
return { 'queued', queued + 1 }
`,
});

/**
 * start: → running, once the tenant's limits allow (acquire_slot). Returns
 * {'moved', previous status, what is left of its budget (-1: no budget)}, {'wait', ms},
 * {'refused', status} or {'gone'}.
 */
export const START = luaScript('job_start', {
  lib: LIFE_LIB,
  keys: ['record', 'job_events', 'events', 'tenant', 'running', 'starts', 'paused', 'dispatched', 'usage_day', 'usage_month'],
  args: ['job_id', 'from', 'now_ms', 'lease_ms', 'defaults', 'retention', 'status_event', 'channel', 'job_cap', 'service_cap', 'batch_patterns', 'now_iso'],
  body: `
local current = redis.call('hget', record, 'status')
if not current then return { 'gone' } end
if not status_in(current, from) then return { 'refused', current } end
local L = limits_of(tenant, defaults_of(defaults))
local now = tonumber(now_ms)
if L.hold > now then
  -- Its budget is spent: a dispatched job gives its slot back and waits for the next period.
  redis.call('zrem', dispatched, job_id)
  redis.call('zrem', running, job_id)
  return { 'wait', L.hold - now }
end
local wait = acquire_slot(L, tenant, running, starts, paused, dispatched, job_id, now, tonumber(lease_ms))
if wait > 0 then return { 'wait', wait } end
set_fields(record, rest_start)
redis.call('hset', record, 'status', 'running')
count_batch(record, current, 'running', batch_patterns, now_iso, events, service_cap, retention)
announce(job_events, channel, job_id, status_event, job_cap, retention)
announce_service(events, service_cap, 'job.started', record, job_id)
local left = budget_left(L, usage_day, usage_month)
return { 'moved', current, left and tostring(left) or '-1' }
`,
});

/**
 * Every other move. What it does besides setting the fields follows from where the job
 * is and where it goes (moves.ts has the table):
 * - out of queued to an ending: it leaves the scheduler (intake, run queue, slot, the
 *   start its dispatch counted);
 * - out of running: its slot is freed;
 * - to an ending: the record's retention starts, the tenant's usage of the day counts
 *   it, and the service-wide stream announces it;
 * - what the attempt spent (`usage`), if anything, counts in the same usage of the day;
 * - failed → queued (reopen): the record keeps no expiry and the job joins the intake.
 * Returns {'moved', previous status}, {'refused', status} or {'gone'}.
 */
export const MOVE = luaScript('job_move', {
  lib: LIFE_LIB,
  keys: ['record', 'job_events', 'events', 'usage_day', 'usage_month', 'tenant', 'stored', 'stored_until', 'intake', 'dispatched', 'running', 'starts', 'sched_tenants', 'sched_lastv', 'sched_vnow', 'sched_seq'],
  args: ['job_id', 'tenant_id', 'from', 'to', 'final', 'usage', 'defaults', 'periods', 'retention', 'status_event', 'service_event', 'channel', 'job_cap', 'service_cap', 'default_priority', 'batch_patterns', 'now_iso', 'now_ms'],
  body: `
local current = redis.call('hget', record, 'status')
if not current then return { 'gone' } end
if not status_in(current, from) then return { 'refused', current } end
set_fields(record, rest_start)
redis.call('hset', record, 'status', to)
if current == 'queued' and final == '1' then
  leave_scheduler(intake, dispatched, running, starts, job_id)
elseif current == 'running' then
  redis.call('zrem', running, job_id)
end
if final == '1' then
  redis.call('expire', record, retention)
  store_bytes(stored, stored_until, job_id, bytes_of(rest_start, #ARGV))
  stored_expires(stored_until, job_id, tonumber(now_ms) + tonumber(retention) * 1000)
end
count_usage(usage, usage_day, usage_month, tenant, defaults, periods, events, service_cap, tenant_id)
if current == 'failed' and to == 'queued' then
  redis.call('persist', record)
  stored_expires(stored_until, job_id, '+inf')
  -- Its BullMQ job will be a new one, counting attempts from 0.
  redis.call('hset', record, 'attempt_offset', redis.call('hget', record, 'attempts'))
  -- A reopened job keeps the priority it was submitted with.
  local priority = cjson.decode(redis.call('hget', record, 'request') or '{}').priority
  if type(priority) ~= 'number' then priority = default_priority end
  join_intake(intake, sched_tenants, sched_lastv, sched_vnow, sched_seq, redis.call('hget', record, 'tenant_id'), job_id, priority)
end
announce(job_events, channel, job_id, status_event, job_cap, retention)
if service_event ~= '' then announce_service(events, service_cap, service_event, record, job_id) end
count_batch(record, current, to, batch_patterns, now_iso, events, service_cap, retention)
return { 'moved', current }
`,
});

/**
 * defer: the job stays queued but gives back what its dispatch took (slot, run-queue
 * place, counted start), to wait for its conversation. Returns {'moved'}, or
 * {'refused', status} when it is no longer queued ({'refused'}: no such job).
 */
export const DEFER = luaScript('job_defer', {
  lib: LIFE_LIB,
  keys: ['record', 'intake', 'dispatched', 'running', 'starts'],
  args: ['job_id'],
  body: `
local current = redis.call('hget', record, 'status')
if current ~= 'queued' then return { 'refused', current } end
leave_scheduler(intake, dispatched, running, starts, job_id)
return { 'moved' }
`,
});

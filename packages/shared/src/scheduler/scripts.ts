/**
 * The scheduler's Lua scripts: every decision that reads and writes several keys
 * (a quota check and the enqueue, a limit check and the slot it takes) is one atomic
 * step in Redis, so it holds across any number of API and worker processes.
 *
 * Limits: a tenant hash's `limits` field holds its overrides as JSON (limits.ts);
 * the deployment defaults come in as JSON in an argument. In both, `null` means unlimited.
 *
 * Every script is a `luaScript` (redisScript.ts): registered once, keys and arguments named.
 */
import { luaScript } from '../redisScript.js';


/** Scheduling functions shared by the scheduler's and the job life's scripts (jobLife/scripts.ts). */
export const SCHEDULING_LIB = `
local function defaults_of(json)
  local d = cjson.decode(json)
  local function v(x) if x == cjson.null then return false end return x end
  local rate = v(d.rate)
  return { rate_max = rate and rate.max or false, rate_per = rate and rate.per_seconds or false,
           conc = v(d.max_concurrency), queued = v(d.max_queued), weight = d.weight,
           stored = v(d.max_stored_bytes), budget = v(d.budget_usd), hold = 0 }
end

-- Effective limits: the tenant's override where it has one (null: unlimited), else the
-- default; with \`hold\`: until when (ms) its budget holds its starts (usage/scripts.ts).
local function limits_of(tenant_key, d)
  local raw, hold = unpack(redis.call('hmget', tenant_key, 'limits', 'budget_hold'))
  hold = tonumber(hold or '0')
  if not raw then
    if hold == 0 then return d end
    local L = {}
    for k, v in pairs(d) do L[k] = v end
    L.hold = hold
    return L
  end
  local o = cjson.decode(raw)
  local function pick(name, default)
    if o[name] == nil then return default end
    if o[name] == cjson.null then return false end
    return o[name]
  end
  local L = { conc = pick('max_concurrency', d.conc), queued = pick('max_queued', d.queued),
              weight = pick('weight', d.weight) or d.weight, rate_max = d.rate_max, rate_per = d.rate_per,
              stored = pick('max_stored_bytes', d.stored), budget = pick('budget_usd', d.budget), hold = hold }
  if o.rate ~= nil then
    if o.rate == cjson.null then L.rate_max = false; L.rate_per = false
    else L.rate_max = o.rate.max; L.rate_per = o.rate.per_seconds end
  end
  return L
end

-- 0 when the tenant may start a job now, else about how many ms until it may.
local function wait_ms(L, running, starts, paused, now)
  local until_ms = math.max(tonumber(redis.call('get', paused) or '0'), L.hold)
  if until_ms > now then return until_ms - now end
  redis.call('zremrangebyscore', running, '-inf', now)
  if L.conc and redis.call('zcard', running) >= L.conc then return 250 end
  if L.rate_max then
    local window = L.rate_per * 1000
    redis.call('zremrangebyscore', starts, '-inf', now - window)
    if redis.call('zcard', starts) >= L.rate_max then
      local oldest = redis.call('zrange', starts, 0, 0, 'withscores')
      return math.max(1, tonumber(oldest[2]) + window - now)
    end
  end
  return 0
end

-- Takes a concurrency slot (a lease) and counts a start in the rate window.
local function take_slot(L, running, starts, job, start_member, now, lease)
  redis.call('zadd', running, now + lease, job)
  if L.rate_max then
    redis.call('zadd', starts, now, start_member)
    redis.call('pexpire', starts, L.rate_per * 1000)
  end
end

-- Into the tenant's intake: lower priority first, then arrival order (2^32 arrivals per
-- priority before they wrap). A tenant joins the fair queue at the current virtual time,
-- or later if it left with a later one: being away earns no credit, and leaving and
-- coming back gains nothing.
local function join_intake(intake, sched_tenants, sched_lastv, sched_vnow, sched_seq, tenant_id, job_id, priority)
  local seq = redis.call('incr', sched_seq) % 4294967296
  redis.call('zadd', intake, tonumber(priority) * 4294967296 + seq, job_id)
  if not redis.call('zscore', sched_tenants, tenant_id) then
    local vnow = tonumber(redis.call('get', sched_vnow) or '0')
    local last = tonumber(redis.call('hget', sched_lastv, tenant_id) or '0')
    redis.call('zadd', sched_tenants, math.max(vnow, last), tenant_id)
  end
end

-- Out of the scheduler before it started: intake, run queue, slot, and the start its
-- dispatch counted in the rate window.
local function leave_scheduler(intake, dispatched, running, starts, job_id)
  redis.call('zrem', intake, job_id)
  redis.call('zrem', dispatched, job_id)
  redis.call('zrem', running, job_id)
  redis.call('zrem', starts, job_id .. ':d')
end

-- A tenant's slot for a starting job: keeps the one a dispatched (or recovered) job holds,
-- or takes one for a job that comes back from a retry or a hand-back if the tenant's
-- limits allow. 0 (go) or the ms to wait.
local function acquire_slot(L, tenant, running, starts, paused, dispatched, job_id, now, lease)
  local was_dispatched = redis.call('zrem', dispatched, job_id) == 1
  redis.call('zremrangebyscore', running, '-inf', now)
  if redis.call('zscore', running, job_id) then
    redis.call('zadd', running, now + lease, job_id)
    -- Count the start when it happens, not when it was dispatched.
    if was_dispatched and L.rate_max then
      redis.call('zadd', starts, 'XX', now, job_id .. ':d')
      -- The window's key must outlive its newest entry, not the newest dispatch.
      redis.call('pexpire', starts, L.rate_per * 1000)
    end
    return 0
  end
  if redis.call('hget', tenant, 'disabled') == '1' then return 5000 end
  local wait = wait_ms(L, running, starts, paused, now)
  if wait > 0 then return wait end
  take_slot(L, running, starts, job_id, job_id .. ':' .. now, now, lease)
  return 0
end
`;

/**
 * Picks up to `room` jobs fairly and takes their slots.
 *
 * Fair queuing by virtual time (start-time fair queuing): every waiting tenant has a
 * virtual time; the eligible tenant with the lowest one gets the next job, and its time
 * advances by 1 / weight. A tenant with 1,000 waiting jobs and one with 10 alternate
 * (weighted), whatever their backlogs. Tenants held back by their limits are skipped
 * without losing their place. Because the whole pick, the slot and the clock move in
 * one script, any number of workers can call it at once: each call sees the state the
 * previous one left.
 *
 * `room` caps the jobs dispatched but not yet started (the short run queue in BullMQ),
 * so decisions are made as late as possible, when a worker slot is free.
 *
 * Returns {job id, tenant id, …}.
 */
export const DISPATCH = luaScript('dispatch', {
  lib: SCHEDULING_LIB,
  keys: ['sched_tenants', 'sched_lastv', 'sched_vnow', 'dispatched'],
  // tenant_keys: how keys.ts builds a tenant's keys, \`<head><tenant id><tail>\`, as JSON
  // [head, tenant hash tail, intake tail, running tail, starts tail, paused tail].
  args: ['tenant_keys', 'now_ms', 'room_arg', 'lease_ms', 'defaults'],
  body: `
local parts = cjson.decode(tenant_keys)
local tenant_head, tenant_tail, intake_tail, running_tail, starts_tail, paused_tail = parts[1], parts[2], parts[3], parts[4], parts[5], parts[6]
local now, lease = tonumber(now_ms), tonumber(lease_ms)
local d = defaults_of(defaults)
local room = tonumber(room_arg) - redis.call('zcard', dispatched)
local out, blocked, limits = {}, {}, {}
while room > 0 do
  local picked, vt
  local entries = redis.call('zrange', sched_tenants, 0, -1, 'withscores')
  for i = 1, #entries, 2 do
    local t = entries[i]
    if not blocked[t] then
      local T = tenant_head .. t
      limits[t] = limits[t] or limits_of(T .. tenant_tail, d)
      -- A disabled tenant's jobs wait, in place, until it is enabled again.
      if redis.call('hget', T .. tenant_tail, 'disabled') ~= '1'
        and wait_ms(limits[t], T .. running_tail, T .. starts_tail, T .. paused_tail, now) == 0 then
        picked, vt = t, tonumber(entries[i + 1])
        break
      end
      -- Limits only tighten as this call dispatches: skip the tenant for the rest of it.
      blocked[t] = true
    end
  end
  if not picked then break end
  local T = tenant_head .. picked
  local intake = T .. intake_tail
  local job = redis.call('zpopmin', intake)[1]
  if job then
    take_slot(limits[picked], T .. running_tail, T .. starts_tail, job, job .. ':d', now, lease)
    redis.call('zadd', dispatched, now, job)
    out[#out + 1] = job
    out[#out + 1] = picked
    room = room - 1
    redis.call('set', sched_vnow, tostring(vt))
    vt = vt + 1 / limits[picked].weight
  end
  if job and redis.call('zcard', intake) > 0 then
    redis.call('zadd', sched_tenants, vt, picked)
  else
    redis.call('zrem', sched_tenants, picked)
    redis.call('hset', sched_lastv, picked, tostring(vt))
  end
end
return out
`,
});

/**
 * Renews a running job's slot; re-takes it if the lease lapsed while the job still runs
 * (a worker cut off from Redis for a while), never after the job ended.
 */
export const RENEW = luaScript('renew', {
  keys: ['running', 'record'],
  args: ['job_id', 'expires_ms'],
  body: `
if redis.call('hget', record, 'status') ~= 'running' then return 0 end
redis.call('zadd', running, expires_ms, job_id)
return 1
`,
});

/** Pauses a tenant's starts until a time (ms), never shortening a pause. */
export const PAUSE = luaScript('pause', {
  keys: ['paused'],
  args: ['until_arg', 'now_ms'],
  body: `
local until_ms = tonumber(until_arg)
local current = tonumber(redis.call('get', paused) or '0')
if until_ms > current then redis.call('set', paused, until_ms, 'PX', until_ms - tonumber(now_ms)) end
return 1
`,
});

/** Forgets dispatched jobs older than a cutoff whose record is no longer queued; returns the queued ones (lost hand-offs). */
export const STALE_DISPATCHED = luaScript('stale_dispatched', {
  keys: ['dispatched'],
  args: ['record_pattern', 'cutoff_ms'],
  body: `
local lost = {}
local i, j = string.find(record_pattern, '{job}', 1, true)
local before, after = string.sub(record_pattern, 1, i - 1), string.sub(record_pattern, j + 1)
for _, job in ipairs(redis.call('zrangebyscore', dispatched, '-inf', cutoff_ms)) do
  local record = before .. job .. after
  local status = redis.call('hget', record, 'status')
  if status == 'queued' then
    lost[#lost + 1] = job
    lost[#lost + 1] = redis.call('hget', record, 'tenant_id')
  else
    redis.call('zrem', dispatched, job)
  end
end
return lost
`,
});

/**
 * The scheduler's Lua scripts: every decision that reads and writes several keys
 * (a quota check and the enqueue, a limit check and the slot it takes) is one atomic
 * step in Redis, so it holds across any number of API and worker processes.
 *
 * Limits: a tenant hash's `limits` field holds its overrides as JSON (limits.ts);
 * the deployment defaults come in as JSON in ARGV. In both, `null` means unlimited.
 */

/** Shared functions, prepended to each script. */
const LIB = `
local function defaults_of(json)
  local d = cjson.decode(json)
  local function v(x) if x == cjson.null then return false end return x end
  local rate = v(d.rate)
  return { rate_max = rate and rate.max or false, rate_per = rate and rate.per_seconds or false,
           conc = v(d.max_concurrency), queued = v(d.max_queued), weight = d.weight }
end

-- Effective limits: the tenant's override where it has one (null: unlimited), else the default.
local function limits_of(tenant_key, d)
  local raw = redis.call('hget', tenant_key, 'limits')
  if not raw then return d end
  local o = cjson.decode(raw)
  local function pick(name, default)
    if o[name] == nil then return default end
    if o[name] == cjson.null then return false end
    return o[name]
  end
  local L = { conc = pick('max_concurrency', d.conc), queued = pick('max_queued', d.queued),
              weight = pick('weight', d.weight) or d.weight, rate_max = d.rate_max, rate_per = d.rate_per }
  if o.rate ~= nil then
    if o.rate == cjson.null then L.rate_max = false; L.rate_per = false
    else L.rate_max = o.rate.max; L.rate_per = o.rate.per_seconds end
  end
  return L
end

-- 0 when the tenant may start a job now, else about how many ms until it may.
local function wait_ms(L, running, starts, paused, now)
  local until_ms = tonumber(redis.call('get', paused) or '0')
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
`;

/**
 * Adds a job to its tenant's intake, unless the tenant's queue quota is full; an
 * accepted job's record stops expiring (JobStore.create gave it a short life until now).
 * KEYS: intake, schedTenants, schedLastVtime, schedVnow, schedSeq, tenant hash, job hash
 * ARGV: job id, tenant id, priority, defaults JSON
 * Returns {1, queued after} or {0, queued, max_queued}.
 */
export const SUBMIT = `${LIB}
local L = limits_of(KEYS[6], defaults_of(ARGV[4]))
local queued = redis.call('zcard', KEYS[1])
if L.queued and queued >= L.queued then return { 0, queued, L.queued } end
-- Lower priority first, then arrival order (2^32 arrivals per priority before they wrap).
local seq = redis.call('incr', KEYS[5]) % 4294967296
redis.call('zadd', KEYS[1], tonumber(ARGV[3]) * 4294967296 + seq, ARGV[1])
redis.call('persist', KEYS[7])
if not redis.call('zscore', KEYS[2], ARGV[2]) then
  -- A tenant joins at the current virtual time, or later if it left with a later one:
  -- being away earns no credit, and leaving and coming back gains nothing.
  local vnow = tonumber(redis.call('get', KEYS[4]) or '0')
  local last = tonumber(redis.call('hget', KEYS[3], ARGV[2]) or '0')
  redis.call('zadd', KEYS[2], math.max(vnow, last), ARGV[2])
end
return { 1, queued + 1 }
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
 * KEYS: schedTenants, schedLastVtime, schedVnow, dispatched
 * ARGV: key prefix, now (ms), room, lease (ms), defaults JSON
 * Returns {job id, tenant id, …}.
 */
export const DISPATCH = `${LIB}
local T = ARGV[1] .. ':tenant:'
local now, lease = tonumber(ARGV[2]), tonumber(ARGV[4])
local d = defaults_of(ARGV[5])
local room = tonumber(ARGV[3]) - redis.call('zcard', KEYS[4])
local out, blocked, limits = {}, {}, {}
while room > 0 do
  local picked, vt
  local entries = redis.call('zrange', KEYS[1], 0, -1, 'withscores')
  for i = 1, #entries, 2 do
    local t = entries[i]
    if not blocked[t] then
      limits[t] = limits[t] or limits_of(T .. t, d)
      -- A disabled tenant's jobs wait, in place, until it is enabled again.
      if redis.call('hget', T .. t, 'disabled') ~= '1' and wait_ms(limits[t], T .. t .. ':running', T .. t .. ':starts', T .. t .. ':paused', now) == 0 then
        picked, vt = t, tonumber(entries[i + 1])
        break
      end
      -- Limits only tighten as this call dispatches: skip the tenant for the rest of it.
      blocked[t] = true
    end
  end
  if not picked then break end
  local intake = T .. picked .. ':intake'
  local job = redis.call('zpopmin', intake)[1]
  if job then
    take_slot(limits[picked], T .. picked .. ':running', T .. picked .. ':starts', job, job .. ':d', now, lease)
    redis.call('zadd', KEYS[4], now, job)
    out[#out + 1] = job
    out[#out + 1] = picked
    room = room - 1
    redis.call('set', KEYS[3], tostring(vt))
    vt = vt + 1 / limits[picked].weight
  end
  if job and redis.call('zcard', intake) > 0 then
    redis.call('zadd', KEYS[1], vt, picked)
  else
    redis.call('zrem', KEYS[1], picked)
    redis.call('hset', KEYS[2], picked, tostring(vt))
  end
end
return out
`;

/**
 * At the start of a run: keeps the slot a dispatched (or recovered) job holds, or takes
 * one for a job that comes back from a retry or a hand-back, if the tenant's limits allow.
 * KEYS: running, starts, paused, tenant hash, dispatched
 * ARGV: job id, now (ms), lease (ms), defaults JSON
 * Returns 0 (go) or the ms to wait.
 */
export const ACQUIRE = `${LIB}
local job, now, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local dispatched = redis.call('zrem', KEYS[5], job) == 1
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
local L = limits_of(KEYS[4], defaults_of(ARGV[4]))
if redis.call('zscore', KEYS[1], job) then
  redis.call('zadd', KEYS[1], now + lease, job)
  -- Count the start when it happens, not when it was dispatched.
  if dispatched and L.rate_max then
    redis.call('zadd', KEYS[2], 'XX', now, job .. ':d')
    -- The window's key must outlive its newest entry, not the newest dispatch.
    redis.call('pexpire', KEYS[2], L.rate_per * 1000)
  end
  return 0
end
if redis.call('hget', KEYS[4], 'disabled') == '1' then return 5000 end
local wait = wait_ms(L, KEYS[1], KEYS[2], KEYS[3], now)
if wait > 0 then return wait end
take_slot(L, KEYS[1], KEYS[2], job, job .. ':' .. now, now, lease)
return 0
`;

/**
 * Takes a job that has not started out of the scheduler (cancel, a conversation busy):
 * out of the intake and the run queue, its slot freed, and the start its dispatch
 * counted taken back.
 * KEYS: intake, dispatched, running, starts
 * ARGV: job id
 */
export const WITHDRAW = `
redis.call('zrem', KEYS[1], ARGV[1])
redis.call('zrem', KEYS[2], ARGV[1])
redis.call('zrem', KEYS[3], ARGV[1])
redis.call('zrem', KEYS[4], ARGV[1] .. ':d')
return 1
`;

/**
 * Renews a running job's slot; re-takes it if the lease lapsed while the job still runs
 * (a worker cut off from Redis for a while), never after the job ended.
 * KEYS: running, job hash   ARGV: job id, lease expiry (ms)
 */
export const RENEW = `
if redis.call('hget', KEYS[2], 'status') ~= 'running' then return 0 end
redis.call('zadd', KEYS[1], ARGV[2], ARGV[1])
return 1
`;

/**
 * Pauses a tenant's starts until a time (ms), never shortening a pause.
 * KEYS: paused   ARGV: until (ms), now (ms)
 */
export const PAUSE = `
local until_ms = tonumber(ARGV[1])
local current = tonumber(redis.call('get', KEYS[1]) or '0')
if until_ms > current then redis.call('set', KEYS[1], until_ms, 'PX', until_ms - tonumber(ARGV[2])) end
return 1
`;

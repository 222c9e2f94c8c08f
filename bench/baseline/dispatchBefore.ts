/**
 * The baseline of bench/dispatch.ts: the dispatch script as it was before scripts were
 * registered (commit 1f6d0f0, packages/shared/src/scheduler/scripts.ts), called as it was
 * then, its whole text sent with every EVAL. Kept verbatim, for the comparison only.
 *
 * KEYS: schedTenants, schedLastVtime, schedVnow, dispatched
 * ARGV: key prefix, now (ms), room, lease (ms), defaults JSON
 */
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

export const DISPATCH_BEFORE = `${LIB}
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

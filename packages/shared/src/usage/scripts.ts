/**
 * A tenant's usage, as the job life's scripts count it (jobLife/scripts.ts, and the
 * batch submit): what its job records hold in Redis, and what its runs spend. Both are
 * limits (limits.ts: `max_stored_bytes`, `budget_usd`), checked in the same script as
 * the write they bound, so no number of API or worker processes can race past them.
 *
 * Stored bytes: a record's field names and values as written (submit, and the result
 * or error of its ending), kept per job in the tenant's `stored` hash with the sum
 * under '*total'; `stored_until` has when each record expires (+inf while it has no
 * expiry). Records expire by Redis TTL, which runs no code: what expired is released
 * before the next check instead (at most RELEASE_BATCH at a time, oldest first), and
 * its keys (record, events) are unlinked then and there. Redis would delete them by and
 * by, but lets up to a tenth of expiring keys linger: a quota's room would come back
 * while the memory it stood for was still held (measured: twice the quota).
 *
 * Spend: each move's usage counts in the tenant's day and month hashes. When a period's
 * spend reaches `budget_usd`, the tenant is held until the next period begins
 * (`budget_hold` in its hash, which the scheduler's wait_ms reads) and a
 * `tenant.budget_reached` event is announced, once per period.
 */

/** Usage counters are kept for 400 days: a year of history, and then some. */
export const USAGE_RETENTION_SECONDS = 400 * 24 * 3600;

/** Expired records released per check; a submit that finds more releases the rest over its next calls. */
export const RELEASE_BATCH = 500;

/** The field of a tenant's `stored` hash that holds the sum. */
export const STORED_TOTAL_FIELD = '*total';

export const USAGE_LIB = `
-- patterns: keys.ts's job record and job events keys with '{job}', as JSON.
local function release_expired(stored, stored_until, now, patterns)
  local gone = redis.call('zrangebyscore', stored_until, '-inf', now, 'LIMIT', 0, ${RELEASE_BATCH})
  if #gone == 0 then return end
  local p = cjson.decode(patterns)
  for _, id in ipairs(gone) do
    for _, pattern in ipairs(p) do
      local i, j = string.find(pattern, '{job}', 1, true)
      redis.call('unlink', string.sub(pattern, 1, i - 1) .. id .. string.sub(pattern, j + 1))
    end
  end
  local freed = 0
  for _, n in ipairs(redis.call('hmget', stored, unpack(gone))) do freed = freed + (tonumber(n) or 0) end
  redis.call('hdel', stored, unpack(gone))
  redis.call('zrem', stored_until, unpack(gone))
  redis.call('hincrby', stored, '${STORED_TOTAL_FIELD}', -freed)
end

-- What the tenant's records hold now (what expired released first).
local function stored_now(stored, stored_until, now, patterns)
  release_expired(stored, stored_until, now, patterns)
  return tonumber(redis.call('hget', stored, '${STORED_TOTAL_FIELD}') or '0')
end

-- Bytes of the field/value pairs ARGV[first..last].
local function bytes_of(first, last)
  local n = 0
  for i = first, last do n = n + #ARGV[i] end
  return n
end

-- Counts bytes a record now holds beyond what it held.
local function store_bytes(stored, stored_until, job_id, n)
  if n == 0 then return end
  redis.call('hincrby', stored, job_id, n)
  redis.call('hincrby', stored, '${STORED_TOTAL_FIELD}', n)
  redis.call('zadd', stored_until, 'NX', '+inf', job_id)
end

-- The record expires at at_ms (an ending), or no longer does (at_ms '+inf': reopened).
local function stored_expires(stored_until, job_id, at_ms)
  redis.call('zadd', stored_until, 'XX', at_ms, job_id)
end

-- Counts a move's usage in its day and month; once the budget's period spend reaches
-- the budget, holds the tenant until the period ends and announces it (once a period).
-- periods: JSON {day = {id, ends_ms}, month = {id, ends_ms}} of now.
-- defaults: the deployment's limits as JSON (the tenant's are read only when something was spent).
local function count_usage(usage, usage_day, usage_month, tenant, defaults, periods, events, service_cap, tenant_id)
  local counted = false
  for field, n in pairs(cjson.decode(usage)) do
    if n ~= 0 then
      redis.call('hincrbyfloat', usage_day, field, n)
      redis.call('hincrbyfloat', usage_month, field, n)
      counted = true
    end
  end
  if not counted then return end
  redis.call('expire', usage_day, ${USAGE_RETENTION_SECONDS})
  redis.call('expire', usage_month, ${USAGE_RETENTION_SECONDS})
  local L = limits_of(tenant, defaults_of(defaults))
  if not L.budget then return end
  local per = L.budget.per
  local key = per == 'month' and usage_month or usage_day
  local spent = tonumber(redis.call('hget', key, 'cost_usd') or '0')
  if spent < L.budget.amount then return end
  local period = cjson.decode(periods)[per]
  redis.call('hset', tenant, 'budget_hold', period.ends_ms)
  if redis.call('hsetnx', key, 'budget_reached', 1) == 1 then
    redis.call('xadd', events, 'MAXLEN', '~', service_cap, '*', 'type', 'tenant.budget_reached', 'tenant_id', tenant_id,
      'period', period.id, 'attempt', 1)
  end
end

-- What is left of the budget in its period (false: no budget).
local function budget_left(L, usage_day, usage_month)
  if not L.budget then return false end
  local key = L.budget.per == 'month' and usage_month or usage_day
  return math.max(0, L.budget.amount - tonumber(redis.call('hget', key, 'cost_usd') or '0'))
end
`;

-- Check a patron's caps and the owner's quota, then hold a slot: one atomic step.
-- KEYS: 1 idempotency key, 2 patron's active loans (zset "owner|loan"),
--       3 patron's held slots (zset "owner|token" by expiry), 4 owner's active loans (set),
--       5 owner's held slots (zset token by expiry), 6 item's active loan, 7 the new hold,
--       8 all holds (zset token by expiry)
-- ARGV: 1 key prefix, 2 now (ms), 3 hold time (ms), 4 token, 5 owner, 6 patron key,
--       7 cap at owner, 8 cap in all, 9 owner's quota (-1: none), 10 how long a hold
--       past its hold time stays listed as unconfirmed (ms), 11.. the hold's fields
-- Returns {"loan", fields} | {"held", token, fields} | {"cap", scope, cap, count}
-- ("loan": the request's own loan, or the patron's loan of the item, still active)
--
-- Every key a hold writes expires: the hold and its idempotency key once it has been
-- listed for the desk (hold time + listing time), the held-slot indexes with their
-- last entry; the index of all holds drops entries whose hold has expired.  A reserve
-- that ran after its gateway gave up waiting thus leaves nothing behind for ever.
local P = ARGV[1]
local now = tonumber(ARGV[2])
local hold_ms = tonumber(ARGV[3])
local listed_ms = tonumber(ARGV[10])
local expiry = now + hold_ms
local owner = ARGV[5]
local mark = owner .. '|'

local function active(id)
  return redis.call('HGET', P .. 'loan:' .. id, 'state') == 'active'
end

-- Keep ``key`` for at least ``ms`` more (never shortening a longer time to live).
local function keep(key, ms)
  local left = redis.call('PTTL', key)
  if left < ms then redis.call('PEXPIRE', key, ms) end
end

-- Put a hold under the caps until its expiry, and make each of its keys expire.
local function hold(token)
  redis.call('ZADD', KEYS[3], expiry, mark .. token)
  redis.call('ZADD', KEYS[5], expiry, token)
  redis.call('ZADD', KEYS[8], expiry, token)
  keep(KEYS[3], hold_ms)
  keep(KEYS[5], hold_ms)
  redis.call('PEXPIRE', P .. 'hold:' .. token, hold_ms + listed_ms)
  redis.call('SET', KEYS[1], 'H:' .. token, 'PX', hold_ms + listed_ms)
end

redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now - listed_ms)

local done = redis.call('GET', KEYS[1])
if done then
  local kind, ref = string.sub(done, 1, 1), string.sub(done, 3)
  if kind == 'L' then
    -- A resend answers with its loan while the loan is open; once it is returned the
    -- same key (a new checkout with the same kiosk date) asks for a new loan.
    if active(ref) then return {'loan', redis.call('HGETALL', P .. 'loan:' .. ref)} end
  elseif kind == 'H' and redis.call('ZSCORE', KEYS[8], ref)
      and redis.call('EXISTS', P .. 'hold:' .. ref) == 1 then
    -- A retry of a request still held (its gateway may have died): hand it back.  A
    -- hold whose listing time is over (its index entry was just dropped) is not, even
    -- if its key has a few milliseconds left: the gateways' clock decides, as above.
    hold(ref)
    return {'held', ref, redis.call('HGETALL', P .. 'hold:' .. ref)}
  end
end

local current = redis.call('GET', KEYS[6])
if current and active(current)
    and redis.call('HGET', P .. 'loan:' .. current, 'patron') == ARGV[6] then
  return {'loan', redis.call('HGETALL', P .. 'loan:' .. current)}
end

redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
local at_owner, total = 0, 0
for _, zset in ipairs({KEYS[2], KEYS[3]}) do
  for _, member in ipairs(redis.call('ZRANGE', zset, 0, -1)) do
    total = total + 1
    if string.sub(member, 1, #mark) == mark then at_owner = at_owner + 1 end
  end
end
local cap_owner, cap_total, quota = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
if cap_owner >= 0 and at_owner >= cap_owner then return {'cap', 'owner', cap_owner, at_owner} end
if cap_total >= 0 and total >= cap_total then return {'cap', 'total', cap_total, total} end
if quota >= 0 then
  local out = redis.call('SCARD', KEYS[4]) + redis.call('ZCARD', KEYS[5])
  if out >= quota then return {'cap', 'quota', quota, out} end
end

local token = ARGV[4]
redis.call('HSET', KEYS[7], unpack(ARGV, 11))
hold(token)
return {'held', token}

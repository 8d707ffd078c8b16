-- Turn a held slot into an active loan and append the checkout to the outbox: one step.
-- KEYS: 1 idempotency key, 2 the hold, 3 patron's active loans, 4 patron's held slots,
--       5 owner's held slots, 6 all holds, 7 item's active loan, 8 the new loan,
--       9 owner's active loans, 10 home's active loans, 11 history, 12 outbox
-- ARGV: 1 key prefix, 2 token ("" when none), 3 loan id, 4 now (ms), 5 now (ISO),
--       6 due (ISO), 7 idempotency time (ms), 8 history kept, 9 owner, 10 home, 11 item,
--       12 patron key, 13 proxy patron, 14 terminal, 15 idempotency key, 16 loan kind
-- Returns the loan's fields.
local P = ARGV[1]
local owner, home, item, patron = ARGV[9], ARGV[10], ARGV[11], ARGV[12]

local done = redis.call('GET', KEYS[1])
if done and string.sub(done, 1, 2) == 'L:' then
  local loan = redis.call('HGETALL', P .. 'loan:' .. string.sub(done, 3))
  if #loan > 0 then return loan end
end

local previous = redis.call('GET', KEYS[7])
if previous then
  -- The item was still registered to someone else (a missed checkin): close that loan.
  local key = P .. 'loan:' .. previous
  local old = redis.call('HMGET', key, 'patron', 'home', 'owner')
  redis.call('HSET', key, 'state', 'returned', 'returned', ARGV[5])
  if old[1] then redis.call('ZREM', P .. 'patron:' .. old[1], owner .. '|' .. previous) end
  if old[2] then redis.call('SREM', P .. 'home:' .. old[2], previous) end
  redis.call('SREM', KEYS[9], previous)
  redis.call('XADD', KEYS[12], '*', 'kind', 'checkin', 'loan', previous, 'owner', owner,
    'home', old[2] or '', 'item', item, 'patron', old[1] or '', 'at', ARGV[5], 'due', '')
end

local id = ARGV[3]
redis.call('HSET', KEYS[8], 'id', id, 'owner', owner, 'home', home, 'item', item,
  'patron', patron, 'proxy', ARGV[13], 'terminal', ARGV[14], 'out', ARGV[5], 'due', ARGV[6],
  'renewals', 0, 'state', 'active', 'idem', ARGV[15], 'kind', ARGV[16])
redis.call('SET', KEYS[7], id)
redis.call('ZADD', KEYS[3], ARGV[4], owner .. '|' .. id)
redis.call('SADD', KEYS[9], id)
redis.call('SADD', KEYS[10], id)
redis.call('ZADD', KEYS[11], ARGV[4], id)
redis.call('SET', KEYS[1], 'L:' .. id, 'PX', ARGV[7])
local token = ARGV[2]
if token ~= '' then
  redis.call('ZREM', KEYS[4], owner .. '|' .. token)
  redis.call('ZREM', KEYS[5], token)
  redis.call('ZREM', KEYS[6], token)
  redis.call('DEL', KEYS[2])
end
redis.call('XADD', KEYS[12], '*', 'kind', 'checkout', 'loan', id, 'owner', owner,
  'home', home, 'item', item, 'patron', patron, 'at', ARGV[5], 'due', ARGV[6])

-- Keep the history bounded: drop the oldest returned loans beyond the limit.
local extra = redis.call('ZCARD', KEYS[11]) - tonumber(ARGV[8])
if extra > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[11], 0, math.min(extra, 16) - 1)) do
    local key = P .. 'loan:' .. old
    if redis.call('HGET', key, 'state') ~= 'active' then
      redis.call('DEL', key)
      redis.call('ZREM', KEYS[11], old)
    end
  end
end
return redis.call('HGETALL', KEYS[8])

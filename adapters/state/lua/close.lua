-- Close an item's active loan and append the checkin to the outbox.
-- KEYS: 1 item's active loan, 2 outbox, 3 owner's active loans
-- ARGV: 1 key prefix, 2 now (ISO), 3 the loan id expected ('' for any)
-- Returns the loan's fields, or false when the item has no active loan (or another
-- loan than the one expected).
local P = ARGV[1]
local id = redis.call('GET', KEYS[1])
if not id then return false end
if ARGV[3] ~= '' and id ~= ARGV[3] then return false end
local key = P .. 'loan:' .. id
if redis.call('EXISTS', key) == 0 then
  redis.call('DEL', KEYS[1])  -- the index pointed at a loan that is gone
  return false
end
redis.call('HSET', key, 'state', 'returned', 'returned', ARGV[2])
local loan = redis.call('HMGET', key, 'owner', 'home', 'item', 'patron')
redis.call('DEL', KEYS[1])
redis.call('ZREM', P .. 'patron:' .. loan[4], loan[1] .. '|' .. id)
redis.call('SREM', KEYS[3], id)
redis.call('SREM', P .. 'home:' .. loan[2], id)
redis.call('XADD', KEYS[2], '*', 'kind', 'checkin', 'loan', id, 'owner', loan[1],
  'home', loan[2], 'item', loan[3], 'patron', loan[4], 'at', ARGV[2], 'due', '')
return redis.call('HGETALL', key)

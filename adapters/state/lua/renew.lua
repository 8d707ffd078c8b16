-- Record a renewal of an item's active loan and append it to the outbox.
-- KEYS: 1 item's active loan, 2 outbox
-- ARGV: 1 key prefix, 2 due (ISO), 3 now (ISO)
-- Returns the loan's fields, or false when the item has no active loan.
local id = redis.call('GET', KEYS[1])
if not id then return false end
local key = ARGV[1] .. 'loan:' .. id
if redis.call('EXISTS', key) == 0 then
  redis.call('DEL', KEYS[1])  -- the index pointed at a loan that is gone
  return false
end
redis.call('HSET', key, 'due', ARGV[2])
redis.call('HINCRBY', key, 'renewals', 1)
local loan = redis.call('HMGET', key, 'owner', 'home', 'item', 'patron')
redis.call('XADD', KEYS[2], '*', 'kind', 'renew', 'loan', id, 'owner', loan[1], 'home', loan[2],
  'item', loan[3], 'patron', loan[4], 'at', ARGV[3], 'due', ARGV[2])
return redis.call('HGETALL', key)

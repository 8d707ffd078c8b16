-- Held slots past their hold time, oldest first: the owner may have lent these items.
-- KEYS: 1 all holds (zset token by expiry)
-- ARGV: 1 key prefix, 2 now (ms), 3 how long a hold past its hold time is listed (ms)
-- Entries whose hold has expired (or was listed for long enough) are dropped.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))
local holds = {}
for _, token in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])) do
  local hold = redis.call('HGETALL', ARGV[1] .. 'hold:' .. token)
  if #hold > 0 then
    holds[#holds + 1] = hold
  else
    redis.call('ZREM', KEYS[1], token)
  end
end
return holds

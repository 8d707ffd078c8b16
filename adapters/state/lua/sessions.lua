-- The kiosk sessions of every gateway: open, touch, close, list (expired ones dropped).
-- KEYS: 1 the index (zset session id by expiry), 2 the session's hash (not for "list")
-- ARGV: 1 "open" | "touch" | "close" | "list", 2 now (ms), 3 expiry (ms), 4 key prefix,
--       5.. the session's fields and values ("open")
local index, action, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
if action == 'list' then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', now)) do
    redis.call('DEL', ARGV[4] .. 'session:' .. id)
  end
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
  local sessions = {}
  for _, id in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    local fields = redis.call('HGETALL', ARGV[4] .. 'session:' .. id)
    if #fields > 0 then sessions[#sessions + 1] = fields end
  end
  return sessions
end
local id = string.sub(KEYS[2], #ARGV[4] + 9)
if action == 'close' then
  redis.call('DEL', KEYS[2])
  return redis.call('ZREM', index, id)
end
if action == 'open' then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], unpack(ARGV, 5))
elseif redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
redis.call('PEXPIREAT', KEYS[2], ARGV[3])
redis.call('ZADD', index, ARGV[3], id)
return 1

-- Close an open title hold: the oldest on a copy for a home library ("fill"), or one
-- by its id ("end"), and keep it in the closed holds' history.  Atomic, so a hold is
-- closed (and counted) once.
-- KEYS: 1 holds' documents (hash), 2 holds by placing time (zset), 3 the copy's holds
--       for the home library (zset; "fill" only, else any key of the namespace),
--       4 closed holds by end time (zset)
-- ARGV: 1 "fill" or "end", 2 the hold id ("end"), 3 key prefix, 4 outcome,
--       5 end time (ISO), 6 end time (ms), 7 closed holds kept
-- Returns the hold's JSON, or false when there is none open.
local id
if ARGV[1] == 'fill' then
  local first = redis.call('ZRANGE', KEYS[3], 0, 0)
  if #first == 0 then return false end
  id = first[1]
else
  id = ARGV[2]
end
local doc = redis.call('HGET', KEYS[1], id)
if not doc then
  if ARGV[1] == 'fill' then redis.call('ZREM', KEYS[3], id) end  -- a stale index entry
  return false
end
local hold = cjson.decode(doc)
redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', ARGV[3] .. 'thold-copy:' .. hold.lender .. '|' .. hold.item .. '|' .. hold.home, id)
hold.outcome = ARGV[4]
hold.ended = ARGV[5]
redis.call('ZADD', KEYS[4], tonumber(ARGV[6]), cjson.encode(hold))
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -tonumber(ARGV[7]) - 1)
return doc

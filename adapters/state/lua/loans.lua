-- Read loans: by item, by patron (oldest first), an owner's active ones (any order),
-- the most recent (newest first), or those checked out between two times (oldest first).
-- KEYS: 1 the index (item key, patron zset, owner set, or history zset)
-- ARGV: 1 key prefix, 2 "item" | "patron" | "set" | "recent" | "between", 3 limit (for
--       "recent"), 4 and 5 from (ms, included) and to (ms, excluded) (for "between")
-- Returns a list of loans, each a list of fields.
local P = ARGV[1]
local ids
if ARGV[2] == 'item' then
  local id = redis.call('GET', KEYS[1])
  ids = id and {id} or {}
elseif ARGV[2] == 'patron' then
  ids = {}
  for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    ids[#ids + 1] = string.sub(member, string.find(member, '|', 1, true) + 1)
  end
elseif ARGV[2] == 'set' then
  ids = redis.call('SMEMBERS', KEYS[1])
elseif ARGV[2] == 'between' then
  ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[4], '(' .. ARGV[5])
else
  ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1, 'REV')
end
local loans = {}
for _, id in ipairs(ids) do
  local loan = redis.call('HGETALL', P .. 'loan:' .. id)
  if #loan > 0 then loans[#loans + 1] = loan end
end
return loans

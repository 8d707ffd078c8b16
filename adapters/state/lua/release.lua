-- Give a held slot back (the owner's ILS refused or failed).
-- KEYS: 1 idempotency key, 2 the hold, 3 patron's held slots, 4 owner's held slots, 5 all holds
-- ARGV: 1 token, 2 owner
if redis.call('GET', KEYS[1]) == 'H:' .. ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[3], ARGV[2] .. '|' .. ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
return redis.call('DEL', KEYS[2])

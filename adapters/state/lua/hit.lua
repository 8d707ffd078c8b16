-- Count one hit in a bucket that expires a fixed time after its first hit.
-- KEYS: 1 the bucket; ARGV: 1 window (ms). Returns the count.
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count

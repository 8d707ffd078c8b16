-- Forget a member's pending ledger batch, if it is still the one with the given root.
-- KEYS: 1 the member's batch (hash: root, batch)
-- ARGV: 1 the root (hex)
-- Returns 1 when it was deleted, 0 otherwise.
if redis.call('HGET', KEYS[1], 'root') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0

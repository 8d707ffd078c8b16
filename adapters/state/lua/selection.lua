-- Lending counters for lender selection, shared by every gateway (SelectionCounterStore in
-- adapters/state/base.py; the in-memory store mirrors this script in selection.py).
-- Decayed sums are kept as value and stamp and brought forward when touched:
-- value * exp(-(now - stamp) / tau).  Counts of things in progress never go below 0.
-- KEYS: 1 lender's hash, 2 borrower's hash, 3 lender's turnaround list,
--       4 the consortium's turnaround list
-- ARGV: 1 operation, 2 now (s), 3 tau (s), 4 turnaround hours, 5 member window,
--       6 consortium window, 7 has lender ("1"/"0"), 8 has borrower
local op, now, tau = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local lender, borrower = KEYS[1], KEYS[2]

local function add(key, name, amount)
  local value = tonumber(redis.call('HGET', key, name .. ':v') or '0')
  local stamp = tonumber(redis.call('HGET', key, name .. ':s') or '0')
  if value ~= 0 then value = value * math.exp(-math.max(0, now - stamp) / tau) end
  value = math.max(0, value + amount)
  redis.call('HSET', key, name .. ':v', string.format('%.17g', value),
    name .. ':s', string.format('%.17g', math.max(stamp, now)))
end

local function down(key, name)
  local count = tonumber(redis.call('HGET', key, name) or '0')
  redis.call('HSET', key, name, math.max(0, count - 1))
end

local function declined()
  down(lender, 'open_assigned')
  down(lender, 'active_lends')
end

if op == 'requested' then
  redis.call('HINCRBY', borrower, 'active_borrows', 1)
elseif op == 'assigned' then
  add(lender, 'assigned', 1)
  redis.call('HINCRBY', lender, 'open_assigned', 1)
  redis.call('HINCRBY', lender, 'active_lends', 1)
elseif op == 'declined' then
  declined()
elseif op == 'filled' then
  down(lender, 'open_assigned')
  add(lender, 'lends', 1)
  add(lender, 'filled', 1)
  redis.call('HINCRBY', lender, 'lifetime_lends', 1)
  redis.call('LPUSH', KEYS[3], ARGV[4])
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
  redis.call('LPUSH', KEYS[4], ARGV[4])
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[6]) - 1)
  add(borrower, 'borrows', 1)
  redis.call('HINCRBY', borrower, 'lifetime_borrows', 1)
elseif op == 'returned' then
  down(lender, 'active_lends')
  down(borrower, 'active_borrows')
elseif op == 'unfilled' then
  down(borrower, 'active_borrows')
elseif op == 'withdrawn' then
  down(borrower, 'active_borrows')
  if ARGV[7] == '1' then
    declined()
    add(lender, 'assigned', -1)
  end
end
return 1

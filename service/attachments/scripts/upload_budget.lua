-- A sliding window of the member's upload slots in the last 60 s, on Redis's clock (the
-- relays' clocks may differ). KEYS[1]: the member's sorted set (score: milliseconds);
-- ARGV[1]: slots allowed per minute; ARGV[2]: a unique member for this slot.
-- Returns 1 and records the slot when the budget allows it, else 0.
local now = redis.call('TIME')
local millis = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', millis - 60000)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], millis, ARGV[2])
redis.call('PEXPIRE', KEYS[1], 60000)
return 1

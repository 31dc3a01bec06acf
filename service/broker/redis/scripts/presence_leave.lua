-- Forget one connection; return 1 when it was the member's last (the caller announces
-- that the member left), 0 otherwise. A connection already reaped is not counted twice
-- (ZREM returns 0).
-- KEYS[1] connections zset (score = expiry ms), KEYS[2] connection counts hash,
-- KEYS[3] members hash
-- ARGV[1] connection key, ARGV[2] member id
if redis.call("ZREM", KEYS[1], ARGV[1]) == 0 then
  return 0
end
if redis.call("HINCRBY", KEYS[2], ARGV[2], -1) <= 0 then
  redis.call("HDEL", KEYS[2], ARGV[2])
  redis.call("HDEL", KEYS[3], ARGV[2])
  return 1
end
return 0

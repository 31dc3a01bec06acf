-- Forget one connection; publish "d<member id>" (member left) when it was the member's last.
-- A connection already reaped is not counted twice (ZREM returns 0).
-- KEYS[1] connections zset (score = expiry ms), KEYS[2] connection counts hash,
-- KEYS[3] members hash
-- ARGV[1] connection key, ARGV[2] member id, ARGV[3] channel, ARGV[4] publish command,
-- ARGV[5] publish format ("frame": the v1 member_delete frame earlier releases read | "compact")
if redis.call("ZREM", KEYS[1], ARGV[1]) == 0 then
  return 0
end
if redis.call("HINCRBY", KEYS[2], ARGV[2], -1) <= 0 then
  redis.call("HDEL", KEYS[2], ARGV[2])
  redis.call("HDEL", KEYS[3], ARGV[2])
  if ARGV[5] == "compact" then
    redis.call(ARGV[4], ARGV[3], "d" .. ARGV[2])
  else
    redis.call(ARGV[4], ARGV[3], '{"type":"member_delete","id":"' .. ARGV[2] .. '"}')
  end
  return 1
end
return 0

-- Record this process's connections in one room (on join, and as a heartbeat): push
-- their expiry forward, re-adding any that were lost (Redis restarted, or this process
-- stalled past the ttl), then reap connections of processes that stopped heartbeating
-- (crashed). Returns what the room must hear (the caller publishes it, member_events.py):
-- {member ids whose last connection was reaped, member json of members that joined: a
-- first connection, or a new one under a new name, and each reaped connection key
-- followed by its member's json (events out tell a product's backend of each)}, each
-- exactly once.
-- KEYS[1] connections zset (score = expiry ms), KEYS[2] connection counts hash,
-- KEYS[3] members hash
-- ARGV[1] ttl ms, ARGV[2] key ttl (s), then triples: connection key, member id, member json
local now = redis.call("TIME")
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local left = {}
local joined = {}
local reaped = {}

for _, expired in ipairs(redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now_ms, "LIMIT", 0, 1000)) do
  redis.call("ZREM", KEYS[1], expired)
  local member_id = string.match(expired, "^([^/]+)/")
  table.insert(reaped, expired)
  table.insert(reaped, redis.call("HGET", KEYS[3], member_id) or "")
  if redis.call("HINCRBY", KEYS[2], member_id, -1) <= 0 then
    redis.call("HDEL", KEYS[2], member_id)
    redis.call("HDEL", KEYS[3], member_id)
    table.insert(left, member_id)
  end
end

local expiry = now_ms + tonumber(ARGV[1])
for i = 3, #ARGV, 3 do
  if redis.call("ZADD", KEYS[1], expiry, ARGV[i]) == 1 then
    -- A member's first connection, or a new one under a new name (the newest join wins).
    if redis.call("HINCRBY", KEYS[2], ARGV[i + 1], 1) == 1
        or redis.call("HGET", KEYS[3], ARGV[i + 1]) ~= ARGV[i + 2] then
      redis.call("HSET", KEYS[3], ARGV[i + 1], ARGV[i + 2])
      table.insert(joined, ARGV[i + 2])
    end
  end
end
if redis.call("EXISTS", KEYS[1]) == 1 then
  for i = 1, 3 do
    redis.call("EXPIRE", KEYS[i], ARGV[2])
  end
end
return {left, joined, reaped}

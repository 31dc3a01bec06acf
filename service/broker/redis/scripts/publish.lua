-- Publish a body to a room, storing it first in the room's capped stream when it goes to
-- history, atomically, so the stored order is the delivered order. With an idempotency
-- key, a retry within its ttl stores and publishes nothing new and answers the first id.
-- With a tombstone, that message id is left out of every history read from now on.
-- KEYS[1] history stream, KEYS[2] idempotency key, KEYS[3] origin key, KEYS[4] tombstones
-- (all in the room's slot)
-- ARGV[1] channel, ARGV[2] publish command (PUBLISH|SPUBLISH), ARGV[3] body (with history:
-- a message's JSON fragment without id/date; without: a whole client frame), ARGV[4] stream
-- cap, ARGV[5] history ttl (s), ARGV[6] idempotency ttl (s), ARGV[7] "1" when there is an
-- idempotency key, ARGV[8] publish format ("frame" | "compact": REDIS_PUBLISH_FORMAT),
-- ARGV[9] "1" to store in history, ARGV[10] message id to tombstone ("" for none)
-- Returns {message id ("" without history), 1 when a duplicate}.
local has_key = ARGV[7] == "1"
if has_key then
  local previous = redis.call("GET", KEYS[2])
  if previous then
    return {previous, 1}
  end
end
if ARGV[10] ~= "" then
  redis.call("SADD", KEYS[4], ARGV[10])
  redis.call("EXPIRE", KEYS[4], ARGV[5])
end
local id = ""
if ARGV[9] == "1" then
  local fresh = redis.call("EXISTS", KEYS[1]) == 0
  id = redis.call("XADD", KEYS[1], "MAXLEN", "~", ARGV[4], "*", "m", ARGV[3])
  redis.call("EXPIRE", KEYS[1], ARGV[5])
  redis.call("EXPIRE", KEYS[4], ARGV[5])  -- tombstones live as long as the history
  -- The origin marks this incarnation of the stream: a resume from before it cannot be
  -- proven gap-free (the stream was lost with a Redis restart, or expired).
  if fresh then
    redis.call("SET", KEYS[3], id, "EX", ARGV[5])
  else
    redis.call("EXPIRE", KEYS[3], ARGV[5])
  end
  if ARGV[8] == "compact" then
    -- A compact event (events.py): each relay builds the client frame.
    redis.call(ARGV[2], ARGV[1], "m" .. id .. " " .. ARGV[3])
  else
    -- The protocol v1 client frame, byte for byte as relays of earlier releases built it:
    -- they forward it as it is (a rolling deploy has them on this Redis too).
    local millis = string.match(id, "^(%d+)-")
    redis.call(ARGV[2], ARGV[1],
      '{"type":"messages","message":{"id":"' .. id .. '","date":' .. millis .. ',' .. ARGV[3] .. '}}')
  end
else
  -- A frame without history is the same in both formats: every release reads frames.
  redis.call(ARGV[2], ARGV[1], ARGV[3])
end
if has_key then
  redis.call("SET", KEYS[2], id, "EX", ARGV[6])
end
return {id, 0}

-- Store a message in the room's capped stream and publish it, atomically, so the
-- stored order is the delivered order. With a ref, a retried send stores nothing new.
-- KEYS[1] history stream, KEYS[2] ref key, KEYS[3] origin key (all in the room's slot)
-- ARGV[1] channel, ARGV[2] publish command (PUBLISH|SPUBLISH), ARGV[3] message body
-- (JSON fragment without id/date), ARGV[4] stream cap, ARGV[5] history ttl (s),
-- ARGV[6] ref ttl (s), ARGV[7] "1" when the send carries a ref, ARGV[8] publish format
-- ("frame" | "compact": REDIS_PUBLISH_FORMAT)
local has_ref = ARGV[7] == "1"
if has_ref then
  local previous = redis.call("GET", KEYS[2])
  if previous then
    return {previous, 1}
  end
end
local fresh = redis.call("EXISTS", KEYS[1]) == 0
local id = redis.call("XADD", KEYS[1], "MAXLEN", "~", ARGV[4], "*", "m", ARGV[3])
redis.call("EXPIRE", KEYS[1], ARGV[5])
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
if has_ref then
  redis.call("SET", KEYS[2], id, "EX", ARGV[6])
end
return {id, 0}

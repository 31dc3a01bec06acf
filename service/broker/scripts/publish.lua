-- Store a message in the room's capped stream and publish it, atomically, so the
-- stored order is the delivered order. With a ref, a retried send stores nothing new.
-- KEYS[1] history stream, KEYS[2] ref key ("" when no ref)
-- ARGV[1] channel, ARGV[2] publish command (PUBLISH|SPUBLISH), ARGV[3] message body
-- (JSON fragment without id/date), ARGV[4] stream cap, ARGV[5] history ttl (s), ARGV[6] ref ttl (s)
if KEYS[2] ~= "" then
  local previous = redis.call("GET", KEYS[2])
  if previous then
    return {previous, 1}
  end
end
local id = redis.call("XADD", KEYS[1], "MAXLEN", "~", ARGV[4], "*", "m", ARGV[3])
redis.call("EXPIRE", KEYS[1], ARGV[5])
local millis = string.match(id, "^(%d+)-")
local frame = '{"type":"messages","message":{"id":"' .. id .. '","date":' .. millis .. ',' .. ARGV[3] .. '}}'
redis.call(ARGV[2], ARGV[1], frame)
if KEYS[2] ~= "" then
  redis.call("SET", KEYS[2], id, "EX", ARGV[6])
end
return {id, 0}

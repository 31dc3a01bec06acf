-- A scan verdict, atomically: set the status only when the record exists and the
-- transition is allowed (records.VERDICT_TRANSITIONS: scanning -> clean | infected,
-- clean -> infected). KEYS[1]: the attachment's hash; ARGV[1]: the new status; ARGV[2]: the
-- scanned object's version ('' when the bucket keeps none), recorded with a "clean".
-- Returns the changed record (HGETALL's pairs), or false when nothing changed.
local current = redis.call('HGET', KEYS[1], 'status')
if not current then
  return false -- unknown or expired: a verdict never creates a record
end
local new = ARGV[1]
local allowed = (current == 'scanning' and (new == 'clean' or new == 'infected'))
  or (current == 'clean' and new == 'infected')
if not allowed then
  return false
end
redis.call('HSET', KEYS[1], 'status', new)
if new == 'clean' then
  redis.call('HSET', KEYS[1], 'version', ARGV[2])
end
return redis.call('HGETALL', KEYS[1])

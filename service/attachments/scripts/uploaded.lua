-- The store holds the file: mark an existing record only (a plain HSET on an expired
-- key would create a partial record with no TTL). KEYS[1]: the attachment's hash.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'uploaded', '1')
end
return 0

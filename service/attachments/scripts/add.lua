-- A new record and its TTL in one step: never a record without a TTL (a cluster client
-- runs no MULTI). KEYS[1]: the attachment's hash; ARGV[1]: seconds to live;
-- ARGV[2..]: field, value pairs.
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 0

-- Moves a table's head pointer forward, never back, and announces the move.
-- KEYS[1]  the head hash (version, committedAt)
-- ARGV[1]  the new version
-- ARGV[2]  its commit timestamp (ISO 8601)
-- ARGV[3]  the pub/sub channel readers listen on
-- ARGV[4]  the announcement payload
-- Returns 1 when the pointer moved, 0 when the version was not newer
-- (a duplicate or replayed event: nothing changes, nothing is announced).
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '-1')
local version = tonumber(ARGV[1])
if version > current then
  redis.call('HSET', KEYS[1], 'version', ARGV[1], 'committedAt', ARGV[2])
  redis.call('PUBLISH', ARGV[3], ARGV[4])
  return 1
end
return 0

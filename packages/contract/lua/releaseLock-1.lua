--[[
  Releases a lock (or lease) only if the caller still holds it (compare-and-delete): a holder slower
  than its lock's time to live must not delete the lock the next holder took meanwhile.

  KEYS[1] the lock (string: the holder's token)
  ARGV[1] the caller's token
  Output: 1 when released, 0 when the caller no longer held it
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0

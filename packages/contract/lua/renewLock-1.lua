--[[
  Extends a lock (or lease) only while the caller still holds it: a holder whose lock expired and was
  taken by another must not extend the other's.

  KEYS[1] the lock (string: the holder's token)
  ARGV[1] the caller's token
  ARGV[2] new time to live, ms
  Output: 1 when extended, 0 when the caller no longer holds it
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0

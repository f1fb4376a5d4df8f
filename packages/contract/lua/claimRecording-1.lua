--[[
  Makes the caller the one owner (writer) of a recording and returns its new epoch.

  Every claim increments the epoch, so a worker that owned the recording before (and may still be
  running after a partition) holds a smaller epoch and is refused by addSegment-2.

  KEYS[1] recording record (hash)
  ARGV[1] owner identity (host:pid)
  ARGV[2] now, ms since epoch
  Output: the new epoch (integer)
]]
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'ownerSince', ARGV[2], 'updatedAt', ARGV[2])
return epoch

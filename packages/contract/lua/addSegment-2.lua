--[[
  Records a delivered segment in the recording's segment index, only if the caller may write it
  (fencing): either it still owns the recording, or it reserved this very sequence while it did
  (a segment finished before ownership moved on is legitimate and may be delivered late). A stale
  owner's other segments never reach the playlist.

  KEYS[1] recording record (hash, field `epoch`)
  KEYS[2] segment index (hash: sequence -> JSON with `epoch` and `location`)
  ARGV[1] the caller's epoch
  ARGV[2] sequence number
  ARGV[3] segment JSON
  Output: 1 when written; -1 when fenced
]]
local current = redis.call('HGET', KEYS[1], 'epoch')
if current ~= ARGV[1] then
  local existing = redis.call('HGET', KEYS[2], ARGV[2])
  if not existing then
    return -1
  end
  local entry = cjson.decode(existing)
  if tostring(entry['epoch']) ~= ARGV[1] then
    return -1
  end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1

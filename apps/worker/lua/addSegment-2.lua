--[[
  Records a delivered segment in the recording's segment index, only if the caller still owns the
  recording (fencing): a stale owner's segment never reaches the playlist.

  KEYS[1] recording record (hash, field `epoch`)
  KEYS[2] segment index (hash: sequence -> JSON)
  ARGV[1] the caller's epoch
  ARGV[2] sequence number
  ARGV[3] segment JSON
  Output: 1 when written; -1 when fenced (the record's epoch is not the caller's)
]]
local current = redis.call('HGET', KEYS[1], 'epoch')
if current ~= ARGV[1] then
  return -1
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1

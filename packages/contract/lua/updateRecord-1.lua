--[[
  Writes fields of a recording's record for its owner (state, the storage error flag, what resuming
  needs), fenced by epoch like every other write of an owner, and never after the terminal event (the
  final state is finishRecording-2's alone).

  KEYS[1] recording record (hash: `epoch`, `terminal`)
  ARGV[1] the caller's epoch
  ARGV[2] how many field/value pairs follow
  ARGV[3..] field, value, field, value, …, then the names of fields to delete
  Output: 1 when written; 0 after the terminal event; -1 when fenced
]]
local f = redis.call('HMGET', KEYS[1], 'epoch', 'terminal')
if f[1] ~= ARGV[1] then
  return -1
end
if f[2] then
  return 0
end
local count = tonumber(ARGV[2])
local last = 2 + count * 2
if count > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 3, last))
end
if #ARGV > last then
  redis.call('HDEL', KEYS[1], unpack(ARGV, last + 1, #ARGV))
end
return 1

--[[
  Frees a recorder identity (app, channel, uid) for a new recording, only if it still names this
  recording: a newer recording of the same identity keeps its key.

  KEYS[1] the identity's active key (string: recording id)
  ARGV[1] recording id
  Output: 1 when deleted, 0 when it named another recording (or was gone)
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0

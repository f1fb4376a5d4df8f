--[[
  Writes one user of a channel recording (their timeline and tracks: the manifest's entry for them)
  only while the caller owns the recording, so a worker that lost it cannot overwrite what its
  successor knows about the users.

  KEYS[1] recording record (hash, field `epoch`)
  KEYS[2] the recording's users (hash: uid -> ManifestUser JSON)
  ARGV[1] the caller's epoch
  ARGV[2] uid
  ARGV[3] the user's JSON
  Output: 1 when written; -1 when fenced
]]
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return -1
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1

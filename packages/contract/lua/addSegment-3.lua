--[[
  Records a delivered segment in the recording's segment index, only if the caller may write it
  (fencing): either it still owns the recording, or it reserved this very sequence while it did
  (a segment finished before ownership moved on is legitimate and may be delivered late). A stale
  owner's other segments never reach the playlist.

  Every write also replaces the index's version (KEYS[3]) with a token unique to the write, and says
  whether the version it replaced is the one the caller knew: a writer that keeps a view of the index
  (the owner) learns in this same call whether anyone else wrote since, instead of reading the whole
  index again after every segment.

  KEYS[1] recording record (hash, field `epoch`)
  KEYS[2] segment index (hash: sequence -> JSON with `epoch` and `location`)
  KEYS[3] the index's version (string; absent reads as '0')
  ARGV[1] the caller's epoch
  ARGV[2] sequence number
  ARGV[3] segment JSON
  ARGV[4] the new version
  ARGV[5] the version the caller's view was taken at, or '' when it keeps none
  Output: {status, stale}
    status  1 written by the owner; 2 written by an earlier owner delivering a segment it reserved;
            -1 fenced (nothing written)
    stale   1 when ARGV[5] is given and the version before this write was another (someone else wrote,
            or a failover lost writes): the caller's view must be read again; else 0
]]
local status = 1
local current = redis.call('HGET', KEYS[1], 'epoch')
if current ~= ARGV[1] then
  local existing = redis.call('HGET', KEYS[2], ARGV[2])
  if not existing then
    return {-1, 0}
  end
  local entry = cjson.decode(existing)
  if tostring(entry['epoch']) ~= ARGV[1] then
    return {-1, 0}
  end
  status = 2
end
local stale = 0
if ARGV[5] ~= '' then
  local before = redis.call('GET', KEYS[3]) or '0'
  if before ~= ARGV[5] then
    stale = 1
  end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[4])
return {status, stale}

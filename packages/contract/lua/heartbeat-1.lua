--[[
  A live worker's heartbeat on a recording, every second: the owner's (or, with redundancy, the
  standby's). Redis TIME stamps it, so hosts' clocks never matter. An owner told -1 knows for sure that
  another worker has claimed the recording (a newer epoch): it stops writing at once. Not hearing back at
  all (Redis unreachable) tells it nothing, and it goes on recording.

  KEYS[1] recording record (hash: `epoch`, `owner`, `ownerHeartbeatAt`, `standby`, `standbyHeartbeatAt`)
  ARGV[1] the caller's epoch (the owner's claim; ignored for a standby)
  ARGV[2] the caller's identity (host:pid)
  ARGV[3] its role: `owner` or `standby`
  Output: 1 when stamped; -1 when the caller no longer holds that role
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == 'owner' then
  local f = redis.call('HMGET', KEYS[1], 'epoch', 'owner')
  if f[1] ~= ARGV[1] or f[2] ~= ARGV[2] then
    return -1
  end
  redis.call('HSET', KEYS[1], 'ownerHeartbeatAt', now)
  return 1
end
if ARGV[3] == 'standby' then
  if redis.call('HGET', KEYS[1], 'standby') ~= ARGV[2] then
    return -1
  end
  redis.call('HSET', KEYS[1], 'standbyHeartbeatAt', now)
  return 1
end
return redis.error_reply('heartbeat: unknown role ' .. tostring(ARGV[3]))

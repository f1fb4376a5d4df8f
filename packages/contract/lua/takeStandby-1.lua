--[[
  Makes the caller the standby of a recording with redundancy 2: a second worker, on another host than
  the owner, that records the same source into its spool and claims the recording (claimRecording-2)
  the moment the owner's heartbeat goes stale. One standby at a time, never on the owner's host (both
  would die together); a standby whose heartbeat is older than `staleAfterMs` is replaced.

  KEYS[1] recording record (hash: `owner`, `ownerHost`, `standby`, `standbyHost`, `standbyHeartbeatAt`)
  ARGV[1] the caller's identity (host:pid)
  ARGV[2] the caller's host
  ARGV[3] staleAfterMs: a standby heartbeat older than this no longer counts
  ARGV[4..] the final states (FINAL_STATES of the vocabulary)
  Output: {'standby'} | {'same_host', ownerHost} | {'standby_alive', standby, standbyHost} |
          {'no_owner'} (claim it instead) | {'ended', state}
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local f = redis.call('HMGET', KEYS[1], 'state', 'terminal', 'owner', 'ownerHost', 'standby', 'standbyHost',
  'standbyHeartbeatAt')
local state, terminal, owner, ownerHost, standby, standbyHost = f[1], f[2], f[3], f[4], f[5], f[6]
local standbyHeartbeat = tonumber(f[7])
if terminal then
  return {'ended', state or ''}
end
for i = 4, #ARGV do
  if state == ARGV[i] then
    return {'ended', state}
  end
end
if not owner or owner == '' then
  return {'no_owner'}
end
if ownerHost == ARGV[2] then
  return {'same_host', ownerHost}
end
if standby and standby ~= '' and standby ~= ARGV[1] and standbyHeartbeat
    and now - standbyHeartbeat < tonumber(ARGV[3]) then
  return {'standby_alive', standby, standbyHost or ''}
end
redis.call('HSET', KEYS[1], 'standby', ARGV[1], 'standbyHost', ARGV[2], 'standbySince', now,
  'standbyHeartbeatAt', now)
return {'standby'}

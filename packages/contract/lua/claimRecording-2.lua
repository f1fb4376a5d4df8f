--[[
  Makes the caller the one owner (writer) of a recording, when nobody else may be writing it, and
  returns its new epoch. Every claim increments the epoch, so an earlier owner (one still running after
  a partition) holds a smaller one: its segment reservations, index entries, events and record writes
  are all refused from then on (reserveSegment-2, addSegment-2, appendEvent-2, updateRecord-1, …).

  Owners prove they are alive by their heartbeat (heartbeat-1.lua, every second). The recording is
  claimed when it has no owner, when the owner is the caller itself (a previous incarnation: a worker
  never claims a recording it runs), or when the owner's heartbeat is older than `takeoverAfterMs` —
  unless that heartbeat stopped before the fleet's last outage ended and the outage ended less than
  `graceAfterResumeMs` ago: an owner that recorded through an outage of Redis is given that time to
  reconnect and heartbeat before anyone takes its recording. A standby (takeStandby-1.lua) that claims
  stops being the standby. The claim ticks the fleet clock itself, so
  an outage that no worker has ticked since is seen here too.

  KEYS[1] recording record (hash)
  KEYS[2] the fleet clock (hash: `lastTickAt`, `resumedAt`; see fleetTick-1.lua)
  ARGV[1] the caller's identity (host:pid)
  ARGV[2] the caller's host
  ARGV[3] takeoverAfterMs: an owner's heartbeat older than this is stale
  ARGV[4] graceAfterResumeMs
  ARGV[5] the longest gap between fleet clock ticks that is not an outage, ms
  ARGV[6..] the final states (FINAL_STATES of the vocabulary)
  Output: {'claimed', epoch} | {'owner_alive', owner, ownerHost} | {'grace', owner, ownerHost} |
          {'standby_first', standby, standbyHost} (the owner is gone; its live standby claims) |
          {'ended', state} (the recording has its terminal event or a final state)
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('HGET', KEYS[2], 'lastTickAt'))
local resumed = tonumber(redis.call('HGET', KEYS[2], 'resumedAt'))
if not last or not resumed or now - last > tonumber(ARGV[5]) then
  resumed = now
  redis.call('HSET', KEYS[2], 'resumedAt', resumed)
end
redis.call('HSET', KEYS[2], 'lastTickAt', now)

local f = redis.call('HMGET', KEYS[1], 'state', 'terminal', 'owner', 'ownerHost', 'ownerHeartbeatAt')
local state, terminal, owner, ownerHost = f[1], f[2], f[3], f[4]
local heartbeat = tonumber(f[5])
if terminal then
  return {'ended', state or ''}
end
for i = 6, #ARGV do
  if state == ARGV[i] then
    return {'ended', state}
  end
end
if owner and owner ~= '' and owner ~= ARGV[1] and heartbeat then
  if now - heartbeat < tonumber(ARGV[3]) then
    return {'owner_alive', owner, ownerHost or ''}
  end
  if heartbeat < resumed and now - resumed < tonumber(ARGV[4]) then
    return {'grace', owner, ownerHost or ''}
  end
end
-- A live standby (takeStandby-1) has recorded everything the owner did not deliver: it goes first, so
-- that a ticket holder that would start a new recorder (and lose the time until it joins) does not win
-- the race. Bounded: a standby that stops heartbeating is passed over after takeoverAfterMs.
local g = redis.call('HMGET', KEYS[1], 'standby', 'standbyHost', 'standbyHeartbeatAt')
local standbyHeartbeat = tonumber(g[3])
if g[1] and g[1] ~= '' and g[1] ~= ARGV[1] and standbyHeartbeat
    and now - standbyHeartbeat < tonumber(ARGV[3]) then
  return {'standby_first', g[1], g[2] or ''}
end
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
-- A standby that claims is the owner now: the recording needs a new standby (takeStandby-1).
if redis.call('HGET', KEYS[1], 'standby') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'standby', 'standbyHost', 'standbySince', 'standbyHeartbeatAt')
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'ownerHost', ARGV[2], 'ownerSince', now,
  'ownerHeartbeatAt', now, 'updatedAt', now)
return {'claimed', epoch}

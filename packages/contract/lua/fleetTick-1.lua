--[[
  One tick of the fleet clock. Every worker runs it every second, so `lastTickAt` is never more than a
  second old while Redis and at least one worker are up; a longer gap means that Redis (or the whole
  fleet) was away — a restart, a SIGSTOP, a failover — and `resumedAt` marks when it came back. Owners
  that recorded through such an outage are given a grace after it before anyone may take over their
  recordings (claimRecording-2.lua).

  KEYS[1] the fleet clock (hash: `lastTickAt`, `resumedAt`, ms of Redis TIME)
  ARGV[1] the longest gap between ticks that is not an outage, ms
  Output: {now, resumedAt} (ms)
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('HGET', KEYS[1], 'lastTickAt'))
local resumed = tonumber(redis.call('HGET', KEYS[1], 'resumedAt'))
if not last or not resumed or now - last > tonumber(ARGV[1]) then
  resumed = now
  redis.call('HSET', KEYS[1], 'resumedAt', resumed)
end
redis.call('HSET', KEYS[1], 'lastTickAt', now)
return {now, resumed}

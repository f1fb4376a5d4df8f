--[[
  Hands a recording back to the queue (a worker shutting down with another worker present), for its
  owner only: state `queued` (reason `handoff`), the `handoff` event, and no owner any more, so that the
  next worker to take the job claims it at once instead of waiting for a stale heartbeat.

  KEYS[1] recording record (hash)
  KEYS[2] recording events (stream)
  ARGV[1] the caller's epoch
  ARGV[2] now, ms since epoch
  ARGV[3] the event's data (JSON)
  ARGV[4] entries the events stream keeps
  Output: 1 when handed off; 0 after the terminal event; -1 when fenced
]]
local f = redis.call('HMGET', KEYS[1], 'epoch', 'terminal')
if f[1] ~= ARGV[1] then
  return -1
end
if f[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'queued', 'reason', 'handoff', 'updatedAt', ARGV[2])
redis.call('HDEL', KEYS[1], 'owner', 'ownerHost', 'ownerHeartbeatAt')
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'type', 'handoff', 'at', ARGV[2], 'data', ARGV[3],
  'epoch', ARGV[1])
return 1

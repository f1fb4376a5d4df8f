--[[
  Ends a recording: its final state with the result fields, and its one terminal event, in one step and
  only once. Whatever happened — stop, cancel, idle, max duration, a fatal error, a failure before the
  job ran — only the first finish counts: a recording that has its terminal event is never finished
  again, and a stale owner (one whose epoch is no longer the recording's) is refused like its other
  writes. The terminal event's type is kept in the record (`terminal`).

  KEYS[1] recording record (hash: `epoch`, `terminal`)
  KEYS[2] recording events (stream)
  ARGV[1] the caller's epoch, or '' for a worker that never claimed it (allowed only while nobody has)
  ARGV[2] the final state (uploaded, backed_up, failed)
  ARGV[3] the terminal event's type (uploaded, backed_up, fatal_error)
  ARGV[4] when, ms since epoch
  ARGV[5] the event's data (JSON)
  ARGV[6] entries the events stream keeps
  ARGV[7..] more record fields: field, value, …
  Output: 1 when finished; 0 when the recording had its terminal event already; -1 when fenced
]]
local f = redis.call('HMGET', KEYS[1], 'epoch', 'terminal')
if f[2] then
  return 0
end
if ARGV[1] == '' then
  if f[1] then
    return -1
  end
elseif f[1] ~= ARGV[1] then
  return -1
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'terminal', ARGV[3], 'updatedAt', ARGV[4])
if #ARGV >= 8 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 7, #ARGV))
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'type', ARGV[3], 'at', ARGV[4], 'data', ARGV[5],
  'epoch', ARGV[1])
return 1

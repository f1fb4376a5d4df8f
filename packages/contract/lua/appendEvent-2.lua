--[[
  Appends one of a recording's events for its owner, fenced like its segment writes: refused when the
  caller's epoch is no longer the recording's (another worker has claimed it since), and after the
  recording's terminal event (nothing of an owner follows it). The entry carries the epoch, so that any
  reader can tell which owner reported what.

  KEYS[1] recording record (hash: `epoch`, `terminal`)
  KEYS[2] recording events (stream)
  ARGV[1] the caller's epoch
  ARGV[2] event type
  ARGV[3] when it happened, ms since epoch (events written after an outage keep their time)
  ARGV[4] event data (JSON)
  ARGV[5] entries the stream keeps (approximately; the newest win)
  Output: 1 when appended; 0 after the terminal event; -1 when fenced
]]
local f = redis.call('HMGET', KEYS[1], 'epoch', 'terminal')
if f[1] ~= ARGV[1] then
  return -1
end
if f[2] then
  return 0
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'type', ARGV[2], 'at', ARGV[3], 'data', ARGV[4],
  'epoch', ARGV[1])
return 1

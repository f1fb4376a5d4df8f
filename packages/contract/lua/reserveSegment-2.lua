--[[
  Reserves a finished segment's sequence number for its owner, the moment the segment is finished
  and before it is delivered. The reservation (location `spool`) is what lets this segment be
  delivered later — by this worker or, after a crash, by spool recovery — even once another worker
  owns the recording; and it moves the next owner's first sequence past it, so numbers never collide.

  KEYS[1] recording record (hash, field `epoch`)
  KEYS[2] segment index (hash: sequence -> JSON)
  ARGV[1] the caller's epoch
  ARGV[2] sequence number
  ARGV[3] segment JSON (location `spool`, with `epoch`)
  Output: 1 when reserved; 0 when the sequence is already indexed (kept as is); -1 when fenced
]]
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return -1
end
return redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3])

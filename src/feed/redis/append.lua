-- Appends consecutive revisions to the stream, checked against its last
-- entry, atomically (see relay.rs).
--
-- KEYS[1]  the stream
-- ARGV[1]  MAXLEN (approximate trimming)
-- ARGV[2]  1: the first entry may follow an older revision (after a resync)
-- ARGV[3]  this database's identity
-- then per entry: revision, the number of field arguments, the fields
--
-- Entries already there are skipped. Returns how many were appended, or
-- -revision when the stream lacks the revision before one (a gap: Redis
-- lost data). Fails when the last entry is another database's.
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local top = 0
if #last > 0 then
  top = tonumber(string.match(last[1][1], '^(%d+)'))
  local fields = last[1][2]
  for f = 1, #fields, 2 do
    if fields[f] == 'db' and fields[f + 1] ~= ARGV[3] then
      return redis.error_reply('FOREIGN the stream holds revision ' .. top .. ' of database ' .. fields[f + 1])
    end
  end
end
local allow = ARGV[2] == '1'
local appended = 0
local i = 4
while i <= #ARGV do
  local rev = tonumber(ARGV[i])
  local n = tonumber(ARGV[i + 1])
  if rev > top then
    if top ~= rev - 1 and not allow then return -rev end
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], rev .. '-0', unpack(ARGV, i + 2, i + 1 + n))
    top = rev
    appended = appended + 1
  end
  allow = false
  i = i + 2 + n
end
return appended

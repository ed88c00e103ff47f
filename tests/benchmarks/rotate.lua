-- wrk script: POST a different body on every request, cycling through BODIES_FILE
-- (one JSON body per line), so that no engine is flattered by one warm row.
local bodies = {}
local index = 0

function init(args)
  for line in io.lines(os.getenv("BODIES_FILE")) do
    bodies[#bodies + 1] = line
  end
  index = math.random(#bodies)
end

request = function()
  index = index % #bodies + 1
  return wrk.format("POST", os.getenv("TARGET_PATH"), {["Content-Type"] = "application/json"}, bodies[index])
end

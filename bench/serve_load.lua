-- wrk script for bench/load.sh: POSTs pre-encoded JSON bodies (one per line of the file given
-- after `--`) to the route given second, cycling through them; counts non-2xx answers.
local bodies = {}
local path = "/embed"
local next_body = 1

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  path = args[2] or path
  next_body = math.random(#bodies)
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, bodies[next_body])
end

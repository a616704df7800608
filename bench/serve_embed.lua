-- wrk script for bench/serve_bench.sh: POST /embed with one sentence per request, cycling through
-- pre-encoded JSON bodies (one per line of the file given after `--`).
local bodies = {}
local next_body = 1

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  -- Each wrk thread starts at a different place in the list.
  next_body = math.random(#bodies)
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", "/embed", { ["Content-Type"] = "application/json" }, bodies[next_body])
end

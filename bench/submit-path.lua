-- wrk script for bench/submit-path.ts: POST submit, each request the next of the tokens in
-- the file named after `--` (one a line), each thread starting at its own place.
local requests = {}
local next = 1

function init(args)
  for token in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("POST", nil, { ["Content-Type"] = "text/plain" }, token)
  end
  next = math.random(#requests)
end

function request()
  next = next % #requests + 1
  return requests[next]
end

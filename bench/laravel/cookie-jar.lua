-- wrk script: keep the cookies the server sets and send them back, as a
-- browser does (one jar per wrk thread, shared by that thread's connections).
-- Used by the laravel-web scenario so that the `web` middleware group reads
-- and writes an existing session instead of starting a new one (and a new
-- session file) for every request.
local jar = {}
local cookie = nil

response = function(status, headers, body)
  -- wrk keeps one value per header name: with several Set-Cookie headers only
  -- the last one arrives here (Laravel's session cookie comes last).
  for k, v in pairs(headers) do
    if string.lower(k) == "set-cookie" then
      local name, value = string.match(v, "^%s*([^=;]+)=([^;]*)")
      if name and jar[name] ~= value then
        jar[name] = value
        cookie = nil
      end
    end
  end
end

request = function()
  if cookie == nil then
    local parts = {}
    for n, v in pairs(jar) do parts[#parts + 1] = n .. "=" .. v end
    cookie = table.concat(parts, "; ")
    if cookie ~= "" then wrk.headers["Cookie"] = cookie end
  end
  return wrk.format()
end

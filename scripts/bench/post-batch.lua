-- wrk script: every request posts a batch of 50 clicks as JSON, as the page sends what waited
-- while it was offline. No eventId: each request's clicks are new events.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Origin"] = "http://127.0.0.1:8080"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
local colours = { "red", "orange", "yellow", "green", "blue", "purple" }
-- The page's own time of the clicks: now, as the collector refuses one a day away.
local now = os.date("!%Y-%m-%dT%H:%M:%S.000Z")
local clicks = {}
for i = 1, 50 do
  clicks[i] = string.format(
    '{"userName":"벤치 bench %d","colorName":"%s","clientTimestamp":"%s"}',
    i, colours[(i - 1) % #colours + 1], now)
end
wrk.body = "[" .. table.concat(clicks, ",") .. "]"

-- wrk script: every request posts a batch of 50 clicks as JSON, as the page sends what waited
-- while it was offline. No eventId: each request's clicks are new events.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
local colours = { "red", "orange", "yellow", "green", "blue", "purple" }
local clicks = {}
for i = 1, 50 do
  clicks[i] = string.format(
    '{"userName":"벤치 bench %d","colorName":"%s","clientTimestamp":"2026-11-22T10:00:00.000Z"}',
    i, colours[(i - 1) % #colours + 1])
end
wrk.body = "[" .. table.concat(clicks, ",") .. "]"

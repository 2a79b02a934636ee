-- wrk script: every request posts one click as JSON from the page's origin, like the page does.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Origin"] = "http://127.0.0.1:8080"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
-- The page's own time of the click: now, as the collector refuses one a day away.
local now = os.date("!%Y-%m-%dT%H:%M:%S.000Z")
wrk.body = string.format('{"userName":"벤치 bench","colorName":"blue","clientTimestamp":"%s"}', now)

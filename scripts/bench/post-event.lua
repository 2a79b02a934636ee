-- wrk script: every request posts one click as JSON, like the page does.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
wrk.body = '{"userName":"벤치 bench","colorName":"blue","clientTimestamp":"2026-11-22T10:00:00.000Z"}'

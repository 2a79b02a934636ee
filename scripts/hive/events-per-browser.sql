-- Clicks per browser and operating system, as parsed by the collector.
SELECT browser.name AS browser, browser.os AS os, COUNT(*) AS clicks
FROM select_color
GROUP BY browser.name, browser.os
ORDER BY clicks DESC;

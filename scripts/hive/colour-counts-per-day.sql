-- How many times each colour was picked, per day.
SELECT dt, colorName, COUNT(*) AS clicks
FROM select_color
GROUP BY dt, colorName
ORDER BY dt, clicks DESC;

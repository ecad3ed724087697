-- Example queries for the demo database; run them with
--   psql "postgresql://admin:admin@127.0.0.1:6432/demo" -f examples/queries.sql

-- Customers per region and segment, with their median income.
SELECT region, segment, count(*) AS customers, percentile_cont(0.5) WITHIN GROUP (ORDER BY annual_income) AS median_income
FROM customers
GROUP BY region, segment
ORDER BY region, segment;

-- The busiest hours of the day.
SELECT extract(hour FROM started_at) AS hour, count(*) AS calls, round(avg(duration_s)) AS avg_seconds
FROM calls
GROUP BY 1
ORDER BY calls DESC
LIMIT 5;

-- Calls handled by each city's towers, and how many came from customers living elsewhere.
SELECT t.city, count(*) AS calls, count(*) FILTER (WHERE c.city <> t.city) AS from_visitors
FROM calls k
JOIN cell_towers t ON t.cell_id = k.cell_id
JOIN customers c ON c.customer_id = k.customer_id
GROUP BY t.city
ORDER BY calls DESC
LIMIT 5;

-- The heaviest callers' share of all calls.
WITH per_customer AS (
    SELECT customer_id, count(*) AS n FROM calls GROUP BY customer_id
)
SELECT round(100.0 * sum(n) FILTER (WHERE rank <= 100) / sum(n), 1) AS top_100_share_pct
FROM (SELECT n, row_number() OVER (ORDER BY n DESC) AS rank FROM per_customer) ranked;

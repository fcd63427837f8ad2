"""Analytics: a read model of the order events (per day, per product)."""

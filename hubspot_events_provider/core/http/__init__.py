"""HTTP layer: config, auth, retry, the rate limiter and the client."""

"""HTTP: connection settings, auth, retry policy, the rate limiter and the HubSpot client."""

"""What every function shares: errors, ids, times, message formats, settings checks, the deadline,
logging, metrics, scrubbing and idempotency plumbing. Nothing here imports a function's package."""

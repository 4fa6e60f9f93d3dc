"""statuswatch's engine: states, providers, store, limiter. Only ``app`` and ``cli`` know Celery."""

"""Where ``celery -A worker`` finds the app (Celery looks for ``worker.celery``)."""

from worker.app import app

__all__ = ["app"]

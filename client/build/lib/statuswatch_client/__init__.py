"""statuswatch's Python client: ``from statuswatch_client import Client``.

It installs without statuswatch's worker (``pip install statuswatch-client``) and puts one
package, ``statuswatch_client``, into a producer's environment.
"""

from statuswatch_client.client import Client, tracker_id
from statuswatch_client.contract import (
    MAX_ITEMS,
    PUBLIC_TASKS,
    TASK_ROUTES,
    TRACK_MANY_TASK,
    TRACK_QUEUE,
    TRACK_TASK,
    UNTRACK_TASK,
    TrackRequest,
    parse_track,
)

__all__ = [
    "MAX_ITEMS",
    "PUBLIC_TASKS",
    "TASK_ROUTES",
    "TRACK_MANY_TASK",
    "TRACK_QUEUE",
    "TRACK_TASK",
    "UNTRACK_TASK",
    "Client",
    "TrackRequest",
    "parse_track",
    "tracker_id",
]

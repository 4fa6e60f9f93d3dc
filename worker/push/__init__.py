"""Push ingestion: what the gateways push (GREEN-API webhooks and its notification queue,
WAMM.chat webhooks) taken into the same monotonic observe step as polling (docs/push.md).

``parse``: the bodies, pure. ``ingest``: one push applied (observe.lua), or kept for a track
request to come. ``webhooks``: the receiver process (aiohttp). ``notifications``: the
receiveNotification consumer.
"""

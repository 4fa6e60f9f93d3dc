"""Telling producers: each tracker's events delivered to its ``callback_url`` (a signed
webhook) and its ``callback_task`` (a Celery task of the producer's), at least once and in
order per tracker, retried from a durable schedule in Redis (docs/contract.md, "Callbacks").

- ``signing``  the ``Statuswatch-Signature`` header
- ``guard``    which addresses a callback URL may reach
- ``webhook``  one HTTP POST, bounded, never redirected, to a vetted address
- ``scripts``  the delivery scripts' KEYS and ARGV: claim, begin (lease), slot (per-host caps), done, renew
- ``notifier`` Notifier: one tracker's deliveries, retries with backoff
"""

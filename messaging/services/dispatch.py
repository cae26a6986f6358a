"""Dispatch: the database is the outbox (issue #4 builds the worker side here).

`request_dispatch()` is the seam called on commit after messages are accepted.
"""

"""Keeping start-up objects out of the garbage collector's full passes (gc.freeze).

A web process holds ~130,000 objects once Django, DRF and every view are imported, all
of them alive until it exits. CPython's full (generation 2) collection walks all of them,
and under load it ran every few seconds: bench/send.py measured 11 full collections per
daphne process in 40 s, up to 116 ms each, and every request the process was serving
waited for it (the send p99 was ~215 ms where the median was ~70 ms). Frozen objects are
never walked again, so a full pass only looks at what was allocated since: a few thousand
objects, under 1 ms.

Freezing happens once per process, after everything a request needs is imported and after
a collection (so no garbage is frozen with it): each web process in portal/daphne_web.py,
each django-q2 worker on its start (messaging.listeners). Objects created later are
collected as usual.
"""

import gc
import logging

log = logging.getLogger(__name__)


def freeze_startup_objects(import_urls: bool = True) -> int:
    """Import the URLconf (every view module, which Django otherwise imports on the first
    request), collect, and freeze what remains; returns how many objects are frozen now."""
    if import_urls:
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018 (the import is the point)
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d start-up objects", frozen)
    return frozen


def freeze_in_worker(sender=None, proc_name: str = "", **kwargs) -> None:
    """django-q2's post_spawn receiver: a worker freezes its start-up objects before its first task."""
    freeze_startup_objects(import_urls=False)

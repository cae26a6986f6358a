"""A workspace's channel by id, kept per process while the workspace's channels_version
is unchanged (messaging.services.versioned).

Every send names its channel; reading it was ~6% of a send's CPU on SQLite and one round
trip on PostgreSQL (bench/send.py, stop 13). Channel rows change rarely: every save and
delete bumps the workspace's channels_version (post_save / post_delete, connected in
messaging.listeners), and so does pausing or resuming (services/dispatch.set_paused).
"""

import copy

from django.db import DEFAULT_DB_ALIAS

from messaging import db
from messaging.models import Channel, Workspace
from messaging.services.versioned import VersionedCache

_FIELDS = [f.name for f in Channel._meta.concrete_fields]
_ATTNAMES = [f.attname for f in Channel._meta.concrete_fields]
# Per (workspace id, channel id): the channel's values as read, or None (no such channel).
_known: VersionedCache[tuple | None] = VersionedCache()


def channel_of(workspace: Workspace, channel_id) -> Channel | None:
    """The workspace's channel `channel_id` (None if it has none such), as current as the
    `workspace` row the caller loaded. A new instance each call, with `workspace` as its
    workspace: nothing a caller changes on it reaches another caller."""
    row = _known.get((workspace.id, channel_id), workspace.channels_version, lambda: _read(workspace.id, channel_id))
    if row is None:
        return None
    values = [copy.deepcopy(v) if isinstance(v, dict | list) else v for v in row]  # settings is a JSON object
    channel = Channel.from_db(DEFAULT_DB_ALIAS, _ATTNAMES, values)
    channel.workspace = workspace
    return channel


def _read(workspace_id, channel_id) -> tuple | None:
    rows = db.select_rows(Channel, _FIELDS, id=channel_id, workspace_id=workspace_id)
    return rows[0] if rows else None

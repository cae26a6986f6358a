"""Smart links and per-message short links (SPEC §2 SmartLink, §3.2 `smartlinks`, §3.7 `/l/<code>`).

A SmartLink is a workspace's named target (`linkid` → url, default validity in minutes).
Every message that uses one gets its own ShortLink: a random code, the target copied, its
own expiry, and the message and contact it was made for, so a click tells who clicked what.

- `{smartlink:<linkid>}` in a message text becomes that message's short URL
  (PUBLIC_BASE_URL/l/<code>); the same token twice in one message is one short link.
- The 002 dialect lists smart links in `smartlinks[]` (`linkid`, optional `validity`
  minutes overriding the smart link's default). A listed link that no text references is
  appended to the message text on its own line.
- The canonical API's `shortLinks.enabled` / `enableLinkTracking` replace every http(s)
  URL of a text with a tracked short link (`shortLinks.domain`, when given, is the host of
  the short URL: the operator points that domain at Switchboard).

Everything here works on unsaved Message objects and returns unsaved ShortLink rows: the
send path (messaging.services.send) bulk-inserts them in its transaction after the
messages, so links cost a constant number of queries however many recipients there are.
"""

import copy
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils.html import escape

from messaging.errors import ValidationFailed
from messaging.models import Message, ShortLink, SmartLink, Workspace

TOKEN = re.compile(r"\{smartlink:\s*(\d{1,18})\s*\}")
URL = re.compile(r"https?://[^\s<>\"'{}|\\^`]+")
CODE_BYTES = 8  # 11 url-safe characters, 64 random bits: collisions are out of reach
# Tracked links of the canonical API have no smart link to take a validity from.
TRACKED_LINK_VALIDITY = timedelta(days=30)
MAX_LISTED = 20
# Distinct URLs one message may have tracked. Each is a ShortLink row: without a bound a
# 100,000-character text of URLs made ~9,000 rows per message, ~900,000 per batch request.
MAX_TRACKED = 100


@dataclass(frozen=True)
class LinkUse:
    smartlink: SmartLink
    validity_minutes: int


@dataclass
class Plan:
    """The smart links one request may use: by linkid, and which ones were listed."""

    uses: dict[int, LinkUse] = field(default_factory=dict)
    listed: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.uses)


# --- codes and URLs --------------------------------------------------------------------------


def new_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def short_url(code: str, domain: str = "") -> str:
    if domain:
        return f"https://{domain}/l/{code}"
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/l/{code}"


# --- planning (validation, one query) -----------------------------------------------------------


def referenced_linkids(texts: Iterable[str]) -> set[int]:
    return {int(m) for text in texts if text for m in TOKEN.findall(text)}


def plan(
    workspace: Workspace,
    listed: list[tuple[int, int | None]] | None = None,
    referenced: dict[int, str] | None = None,
    listed_field: str = "smartlinks",
) -> Plan:
    """Load and check the smart links a request lists ([(linkid, validity or None)]) or
    references in its texts ({linkid: field of the text}), in one query. Unknown or
    inactive ones are errors naming the field they came from."""
    listed = listed or []
    referenced = referenced or {}
    wanted = {linkid for linkid, _ in listed} | set(referenced)
    if not wanted:
        return Plan()
    found = {s.linkid: s for s in SmartLink.objects.filter(workspace=workspace, linkid__in=wanted)}
    result = Plan()
    for index, (linkid, validity) in enumerate(listed):
        link = _usable(found.get(linkid), linkid, f"{listed_field}[{index}].linkid")
        result.uses[linkid] = LinkUse(link, validity or link.validity)
        if linkid not in result.listed:
            result.listed.append(linkid)
    for linkid in sorted(referenced.keys() - result.uses.keys()):
        link = _usable(found.get(linkid), linkid, referenced[linkid])
        result.uses[linkid] = LinkUse(link, link.validity)
    return result


def _usable(link: SmartLink | None, linkid: int, field_name: str) -> SmartLink:
    if link is None:
        raise ValidationFailed.field(field_name, f"no smart link with linkid {linkid} in this workspace")
    if not link.active:
        raise ValidationFailed.field(field_name, f"smart link {linkid} is inactive")
    return link


# --- the texts of a body ------------------------------------------------------------------------

# (path to a text inside the body, is it HTML). The first path of a type is where an
# unreferenced listed link is appended.
TEXT_PATHS: dict[str, list[tuple[tuple[str, ...], bool]]] = {
    "text": [(("text", "text"), False)],
    "image": [(("image", "text"), False)],
    "html": [(("html", "text"), False), (("html", "html"), True)],
    "appmessaging": [
        (("appmessaging", "text"), False),
        (("appmessaging", "message", "text"), False),
        (("appmessaging", "notification", "text"), False),
    ],
}


def body_texts(body: dict) -> list[str]:
    return [text for path, _ in TEXT_PATHS.get((body or {}).get("type"), []) if (text := _get(body, path))]


def _get(body: dict, path: tuple[str, ...]) -> str | None:
    node = body
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node if isinstance(node, str) else None


def _set(body: dict, path: tuple[str, ...], value: str) -> None:
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def rewrite_texts(body: dict, change: Callable[[str, bool], str]) -> dict:
    """A copy of `body` with `change(text, is_html)` applied to each text it has."""
    out = copy.deepcopy(body)
    for path, is_html in TEXT_PATHS.get(out.get("type"), []):
        text = _get(out, path)
        if text is not None:
            _set(out, path, change(text, is_html))
    return out


# --- expansion -----------------------------------------------------------------------------------


def _short_link(message: Message, url: str, expires_at: datetime, smartlink: SmartLink | None = None) -> ShortLink:
    return ShortLink(
        code=new_code(),
        workspace_id=message.workspace_id,
        smartlink=smartlink,
        message=message,
        contact_id=message.contact_id,
        url=url,
        expires_at=expires_at,
        created_at=message.created_at,
    )


def expand(message: Message, links: Plan, now: datetime) -> list[ShortLink]:
    """Give `message` its own short link for every smart link its texts reference or the
    request listed; rewrites message.body and returns the (unsaved) ShortLink rows."""
    body = message.body or {}
    texts = body_texts(body)
    referenced = referenced_linkids(texts)
    wanted = [linkid for linkid in links.listed] + sorted(referenced - set(links.listed))
    if not wanted or body.get("type") not in TEXT_PATHS:
        return []
    rows: dict[int, ShortLink] = {}
    for linkid in wanted:
        use = links.uses[linkid]
        expires_at = now + timedelta(minutes=use.validity_minutes)
        rows[linkid] = _short_link(message, use.smartlink.url, expires_at, use.smartlink)

    def replace(text: str, is_html: bool) -> str:
        return TOKEN.sub(lambda m: short_url(rows[int(m.group(1))].code), text)

    new_body = rewrite_texts(body, replace)
    unreferenced = [linkid for linkid in links.listed if linkid not in referenced]
    if unreferenced:
        new_body = _append(new_body, [short_url(rows[linkid].code) for linkid in unreferenced])
    message.body = new_body
    return list(rows.values())


def _append(body: dict, urls: list[str]) -> dict:
    """Each URL on its own line after the text (a paragraph of its own in HTML)."""
    paths = TEXT_PATHS[body["type"]]
    main_path = paths[0][0]
    main = _get(body, main_path)
    if main is not None or body["type"] != "html":
        lines = "\n".join(urls)
        _set(body, main_path, f"{main}\n{lines}" if main else lines)
    if body["type"] == "html":
        html = _get(body, ("html", "html")) or ""
        links = "".join(f'<p><a href="{escape(u)}">{escape(u)}</a></p>' for u in urls)
        _set(body, ("html", "html"), html + links)
    if body["type"] == "appmessaging" and _get(body, ("appmessaging", "message", "text")) is not None:
        # The app shows message.text; `text` is its plain copy. Keep them equal.
        _set(body, ("appmessaging", "message", "text"), _get(body, main_path))
    return body


def track(message: Message, now: datetime, domain: str = "") -> list[ShortLink]:
    """Replace every http(s) URL of the message's texts with a tracked short link (one per
    distinct URL per message)."""
    body = message.body or {}
    if not any(URL.search(text) for text in body_texts(body)):
        return []
    expires_at = now + TRACKED_LINK_VALIDITY
    rows: dict[str, ShortLink] = {}

    own_prefix = short_url("")  # links this module already made (smart links) stay as they are

    def shorten(url: str) -> str:
        if url.startswith(own_prefix):
            return url
        if url not in rows:
            if len(rows) >= MAX_TRACKED:
                field = "enableLinkTracking" if message.enable_link_tracking else "shortLinks.enabled"
                raise ValidationFailed.field(field, f"at most {MAX_TRACKED} distinct links per message can be tracked")
            rows[url] = _short_link(message, url, expires_at)
        return short_url(rows[url].code, domain)

    def replace(text: str, is_html: bool) -> str:
        def one(match: re.Match) -> str:
            raw = match.group(0)
            target = raw.rstrip(".,;:!?)")  # sentence punctuation after a URL is not part of it
            return shorten(target) + raw[len(target) :]

        return URL.sub(one, text)

    message.body = rewrite_texts(body, replace)
    return list(rows.values())


def prepare_canonical(workspace: Workspace, messages: list[Message], now: datetime) -> list[ShortLink]:
    """The canonical API's send path: `{smartlink:N}` tokens, then tracked links when
    `shortLinks.enabled` or `enableLinkTracking`. No query unless a message needs one."""
    texts = [text for m in messages for text in body_texts(m.body)]
    referenced = referenced_linkids(texts)
    links = plan(workspace, referenced=dict.fromkeys(referenced, "body")) if referenced else Plan()
    rows: list[ShortLink] = []
    for message in messages:
        if links:
            rows += expand(message, links, now)
        short = message.short_links or {}
        if short.get("enabled") or message.enable_link_tracking:
            rows += track(message, now, short.get("domain") or "")
    return rows


def click_counts(message_ids: Iterable) -> dict:
    """Clicks on each message's short links, for a page of messages in one query."""
    from django.db.models import Count

    from messaging.models import LinkClick

    rows = (
        LinkClick.objects.filter(short_link__message_id__in=list(message_ids))
        .values_list("short_link__message_id")
        .annotate(n=Count("id"))
    )
    return dict(rows)

"""JSON and XML bodies of the user message API (SPEC §3.3 field layout).

Requests: JSON fields at the top level, or wrapped in one object named after the root
element (`{"userMessageSendRequest": {...}}`); XML with the seed's root element, one
child element per field and a list as a wrapper element with one child per item
(`<messageIds><messageId>..</messageId></messageIds>`). XML is parsed with defusedxml:
a DTD, entity declaration or external reference is refused before anything is expanded
(billion laughs, XXE), and bodies above USER_API_MAX_BODY_BYTES are refused unread.
Every refusal is a CodecError, which the views answer with code 2.

Responses use the same layout under the response root element, in the request's format
unless the Accept header asks for the other one.
"""

import json
import re
import xml.etree.ElementTree as ET  # building responses only; parsing goes through defusedxml

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as safe_fromstring
from django.conf import settings

JSON_TYPE = "application/json"
XML_TYPE = "application/xml"

# List fields and the element name of one item, in requests and responses.
LIST_ITEMS = {
    "messageIds": "messageId",
    "conversationIds": "conversationId",
    "deletedMessageIds": "messageId",
    "messages": "message",
    "conversations": "conversation",
    "participants": "participant",
}
# Characters XML 1.0 cannot carry at all; they are dropped from XML responses.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class CodecError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def max_body_bytes() -> int:
    return int(getattr(settings, "USER_API_MAX_BODY_BYTES", 256 * 1024))


# --- which format ------------------------------------------------------------------------


def is_xml_request(content_type: str, body: bytes) -> bool:
    content_type = (content_type or "").lower()
    if "xml" in content_type:
        return True
    if "json" in content_type:
        return False
    return body.lstrip()[:1] == b"<"


def wants_xml(accept: str, request_is_xml: bool) -> bool:
    """The Accept header's choice when it names exactly one of the two formats (the first
    named when both are), else the request's own format."""
    accept = (accept or "").lower()
    positions = {
        fmt: min((accept.find(t) for t in types if t in accept), default=-1)
        for fmt, types in (("xml", ("application/xml", "text/xml")), ("json", ("application/json",)))
    }
    named = {fmt: pos for fmt, pos in positions.items() if pos >= 0}
    if not named:
        return request_is_xml
    return min(named, key=named.get) == "xml"


# --- requests ----------------------------------------------------------------------------------


def parse(body: bytes, is_xml: bool, root: str) -> dict:
    """The request's fields as a dict (XML values as strings, lists as lists)."""
    if len(body) > max_body_bytes():
        raise CodecError(f"The request body is larger than {max_body_bytes()} bytes.")
    if not body.strip():
        return {}
    return _parse_xml(body, root) if is_xml else _parse_json(body, root)


def _parse_json(body: bytes, root: str) -> dict:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise CodecError(f"The body is not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise CodecError("The JSON body must be an object.")
    if len(data) == 1 and isinstance(data.get(root), dict):
        data = data[root]
    return {key: _unwrap_list(key, value) for key, value in data.items()}


def _unwrap_list(key: str, value):
    """`{"messageIds": {"messageId": [..]}}` (XML's shape written as JSON) → the list."""
    item = LIST_ITEMS.get(key)
    if item and isinstance(value, dict) and set(value) == {item}:
        inner = value[item]
        return inner if isinstance(inner, list) else [inner]
    return value


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _parse_xml(body: bytes, root: str) -> dict:
    try:
        element = safe_fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CodecError(f"The XML was refused: DTDs, entities and external references are not allowed ({type(exc).__name__}).") from None
    except (ParseError, ValueError) as exc:
        raise CodecError(f"The body is not well-formed XML ({exc}).") from None
    if _local(element.tag) != root:
        raise CodecError(f"The XML root element must be <{root}>, not <{_local(element.tag)}>.")
    data: dict = {}
    for child in element:
        name = _local(child.tag)
        if name in LIST_ITEMS:
            data[name] = [(item.text or "").strip() for item in child]
        else:
            data[name] = (child.text or "").strip()
    return data


# --- responses -----------------------------------------------------------------------------------


def render(root: str, data: dict, xml: bool) -> tuple[bytes, str]:
    """(body, content type) of a response."""
    if not xml:
        return json.dumps(data, ensure_ascii=False).encode(), JSON_TYPE
    element = ET.Element(root)
    _fill(element, data)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True), f"{XML_TYPE}; charset=utf-8"


def _fill(parent: ET.Element, data: dict) -> None:
    for key, value in data.items():
        if value is None:
            continue
        child = ET.SubElement(parent, key)
        if isinstance(value, dict):
            _fill(child, value)
        elif isinstance(value, list):
            item_name = LIST_ITEMS.get(key, "item")
            for item in value:
                node = ET.SubElement(child, item_name)
                if isinstance(item, dict):
                    _fill(node, item)
                else:
                    node.text = _scalar(item)
        else:
            child.text = _scalar(value)


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_ILLEGAL.sub("", str(value))

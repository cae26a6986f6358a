"""Template lookup and rendering for sends (SPEC §2 Template, §3.1).

A send names a template by `id` or `name` (+ `locale`, + `version`; the latest version
when none is given) and passes `parameters`. Placeholders `{{variable}}` are replaced by
plain string substitution: no template engine ever runs, so a template (or a parameter)
cannot execute code. A placeholder without a parameter is a validation error naming it.
"""

import html
import re
import uuid
from dataclasses import dataclass

from messaging.errors import ValidationFailed
from messaging.models import Template, TemplateVersion, Workspace

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
DEFAULT_LOCALE = "en"
# Longest text a substitution may produce (the largest body part, an email's HTML, is at
# most 1,000,000 characters). Checked before the string is built: a template repeating a
# placeholder 20,000 times with a 1 MB parameter would otherwise build 20 GB in memory.
MAX_RENDERED_CHARS = 1_000_000
# Content keys tried, in order, when the template has no block for the channel's platform.
FALLBACK_CONTENT_KEYS = ("default",)


@dataclass(frozen=True)
class Rendered:
    template: Template
    version: int
    body: dict  # a message body in the API's shape ({"type": "text", "text": {...}}, ...)
    info: dict  # what Message.template_info stores


def resolve(workspace: Workspace, ref: dict, field: str = "template") -> tuple[Template, int, dict]:
    """The template a send refers to, the version used and that version's content."""
    if not isinstance(ref, dict):
        raise ValidationFailed.field(field, "must be an object")
    template = _find(workspace, ref, field)
    version = ref.get("version")
    if version in (None, ""):
        return template, template.version, template.content or {}
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationFailed.field(f"{field}.version", "must be a positive integer")
    if version == template.version:
        return template, version, template.content or {}
    content = TemplateVersion.objects.filter(template=template, version=version).values_list("content", flat=True).first()
    if content is None:
        raise ValidationFailed.field(
            f"{field}.version", f"template '{template.name}' has no version {version} (latest is {template.version})"
        )
    return template, version, content


def _find(workspace: Workspace, ref: dict, field: str) -> Template:
    locale = ref.get("locale")
    if locale is not None and not isinstance(locale, str):
        raise ValidationFailed.field(f"{field}.locale", "must be a string")
    if ref.get("id"):
        try:
            template_id = uuid.UUID(str(ref["id"]))
        except ValueError:
            raise ValidationFailed.field(f"{field}.id", "is not a valid id") from None
        template = Template.objects.filter(workspace=workspace, id=template_id).first()
        if template is None:
            raise ValidationFailed.field(f"{field}.id", "no template with this id in this workspace")
        if locale and template.locale != locale:
            raise ValidationFailed.field(f"{field}.locale", f"template {template_id} is in locale '{template.locale}'")
        return template
    name = ref.get("name")
    if not name or not isinstance(name, str):
        raise ValidationFailed.field(field, "give the template's id or name")
    candidates = list(Template.objects.filter(workspace=workspace, name=name))
    if locale:
        candidates = [t for t in candidates if t.locale == locale]
    elif len(candidates) > 1:
        # Several locales and none asked for: the default locale, if the template has it.
        candidates = [t for t in candidates if t.locale == DEFAULT_LOCALE]
        if not candidates:
            raise ValidationFailed.field(f"{field}.locale", f"template '{name}' exists in several locales; give one")
    if not candidates:
        where = f" in locale '{locale}'" if locale else ""
        raise ValidationFailed.field(f"{field}.name", f"no template named '{name}'{where} in this workspace")
    return candidates[0]


def parameters_to_dict(parameters, field: str = "template.parameters") -> dict[str, str]:
    """`[{"type": "string", "key": "name", "value": "Ann"}]` (or a plain mapping) → {key: value}."""
    if parameters in (None, ""):
        return {}
    if isinstance(parameters, dict):
        return {str(k): "" if v is None else str(v) for k, v in parameters.items()}
    if not isinstance(parameters, list):
        raise ValidationFailed.field(field, "must be a list of {type, key, value}")
    values: dict[str, str] = {}
    for index, item in enumerate(parameters):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise ValidationFailed.field(f"{field}[{index}].key", "is required")
        value = item.get("value")
        if isinstance(value, dict | list):
            raise ValidationFailed.field(f"{field}[{index}].value", "must be a string")
        values[item["key"]] = "" if value is None else str(value)
    return values


def substitute(text: str, values: dict[str, str], field: str = "template.parameters", escape: bool = False) -> str:
    """Replace every `{{name}}`; a name without a value is an error naming the variable."""
    matches = list(PLACEHOLDER.finditer(text))
    missing = [m.group(1) for m in matches if m.group(1) not in values]
    if missing:
        raise ValidationFailed.field(field, f"missing variable '{missing[0]}'")
    growth = 6 if escape else 1  # html.escape makes a character at most 6 ("&quot;")
    size = len(text) + sum(growth * len(values[m.group(1)]) - len(m.group(0)) for m in matches)
    if size > MAX_RENDERED_CHARS:
        raise ValidationFailed.field(field, f"the rendered text would be longer than {MAX_RENDERED_CHARS} characters")

    def value_of(match: re.Match) -> str:
        value = values[match.group(1)]
        return html.escape(value) if escape else value

    return PLACEHOLDER.sub(value_of, text)


def content_for_platform(content: dict, platform: str, template: Template, field: str = "template") -> dict:
    block = content.get(platform) if isinstance(content, dict) else None
    for key in FALLBACK_CONTENT_KEYS:
        if block is None and isinstance(content, dict):
            block = content.get(key)
    if not isinstance(block, dict):
        raise ValidationFailed.field(field, f"template '{template.name}' has no content for the {platform} platform")
    return block


def check_subject(subject: str, field: str) -> str:
    """An email subject is one header line: a CR/LF (from the content or a parameter value)
    would be header injection, which the email library refuses only at send time."""
    if "\r" in subject or "\n" in subject:
        raise ValidationFailed.field(field, "must be one line: an email subject may not contain line breaks")
    return subject


def render(workspace: Workspace, platform: str, ref: dict, field: str = "template") -> Rendered:
    """Look the template up and render its block for `platform` into a message body."""
    template, version, content = resolve(workspace, ref, field)
    values = parameters_to_dict(ref.get("parameters"), f"{field}.parameters")
    rendered = render_resolved(template, version, content, platform, values, field)
    if isinstance(ref.get("shortLinks"), dict):
        rendered.info["shortLinks"] = ref["shortLinks"]
    return rendered


def render_resolved(
    template: Template,
    version: int,
    content: dict,
    platform: str,
    values: dict[str, str],
    field: str = "template",
    pfield: str | None = None,
) -> Rendered:
    """Render an already resolved template version (every dialect's one rendering path).

    `field` names the template in errors, `pfield` its parameters.
    """
    pfield = pfield or f"{field}.parameters"
    block = content_for_platform(content, platform, template, field)
    text = substitute(str(block.get("text") or ""), values, pfield)
    html_part = block.get("html")
    if html_part:
        # Parameter values are escaped inside HTML so a value cannot inject markup.
        metadata = {"subject": check_subject(substitute(str(block.get("subject") or ""), values, pfield), pfield)}
        body = {"type": "html", "html": {"html": substitute(str(html_part), values, pfield, escape=True), "metadata": metadata}}
        if text:
            body["html"]["text"] = text
    else:
        if not text:
            raise ValidationFailed.field(field, f"template '{template.name}' has no text for the {platform} platform")
        body = {"type": "text", "text": {"text": text}}
        if block.get("subject"):
            # Plain-text email: the subject travels like the html body's (metadata.subject).
            body["text"]["metadata"] = {"subject": check_subject(substitute(str(block["subject"]), values, pfield), pfield)}
    info = {
        "id": str(template.id),
        "name": template.name,
        "locale": template.locale,
        "version": version,
        "parameters": [{"type": "string", "key": k, "value": v} for k, v in values.items()],
    }
    return Rendered(template=template, version=version, body=body, info=info)

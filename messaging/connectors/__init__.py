"""Connector registry: slug → dotted path, imported lazily (healthchecks style).

Channel.connector choices come from the same names (messaging.models.Connector).
"""

from importlib import import_module

REGISTRY: dict[str, str] = {
    "sandbox": "messaging.connectors.sandbox.transport.SandboxConnector",
    "smtp": "messaging.connectors.smtp.transport.SmtpConnector",
    "webhook": "messaging.connectors.webhook.transport.WebhookConnector",
    "engine": "messaging.connectors.engine.transport.EngineConnector",
    "app": "messaging.connectors.app.transport.AppConnector",
}


def connector_class(slug: str):
    try:
        path = REGISTRY[slug]
    except KeyError:
        raise LookupError(f"unknown connector {slug!r}") from None
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


def get_connector(channel):
    return connector_class(channel.connector)(channel)

"""Management resources of the canonical API: channels, contacts, tags, templates, smart links, webhook subscriptions."""

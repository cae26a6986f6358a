from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Switchboard messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Listeners of messaging.signals register themselves on import.
        from messaging import listeners  # noqa: F401

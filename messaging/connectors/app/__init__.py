"""The `app` connector: in-app messages to app users (seed 002 appmessaging, seed 003)."""

"""The `webhook` connector: outgoing messages are POSTed, signed, to the operator's URL."""

"""The sandbox connector: pretends to send, records what it "sent" (SandboxSend)."""

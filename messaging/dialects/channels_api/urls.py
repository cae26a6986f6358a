"""Canonical API (seed 001) under /workspaces/{workspaceId}/."""

urlpatterns: list = []

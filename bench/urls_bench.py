"""The app's URLs plus the benchmark's bare insert endpoint (bench/baseline.py)."""

from django.urls import include, path

from bench.baseline import BaselineCreateView

urlpatterns = [
    path(
        "bench/baseline/<uuid:workspace_id>/channels/<uuid:channel_id>",
        BaselineCreateView.as_view(),
        name="bench-baseline",
    ),
    path("", include("portal.urls")),
]

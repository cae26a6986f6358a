"""The app's URLs plus the benchmark's two bare insert endpoints (bench/baseline.py)."""

from django.urls import include, path

from bench.baseline import BaselineCreateView, FloorCreateView

urlpatterns = [
    path(
        "bench/baseline/<uuid:workspace_id>/channels/<uuid:channel_id>",
        BaselineCreateView.as_view(),
        name="bench-baseline",
    ),
    path(
        "bench/floor/<uuid:workspace_id>/channels/<uuid:channel_id>",
        FloorCreateView.as_view(),
        name="bench-floor",
    ),
    path("", include("portal.urls")),
]

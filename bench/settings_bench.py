"""Settings for bench/send.py: the app's own settings plus one benchmark-only URL.

Everything (database, middleware, REST framework defaults) comes from portal.settings, so
the server measured is the one `make run` starts; only ROOT_URLCONF differs, adding
bench/baseline/... (bench/urls_bench.py). Never used outside the benchmark.
"""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls_bench"

"""gunicorn settings read from this directory by default (`gunicorn "app:create_app()"`).

Command-line options still apply on top (workers, bind, timeouts).
"""

import gc


def post_worker_init(worker) -> None:  # noqa: ANN001 - gunicorn's hook
    """Once the app is loaded in a worker: everything loaded so far (modules, compiled templates and
    statements, metadata: ~140,000 objects) goes to the collector's permanent generation.

    Otherwise every full collection walks all of it again: ~130 ms, every few seconds under load, each
    time stalling the 15 requests queued behind it (what set a page's p99 at twice its median).
    """
    gc.collect()
    gc.freeze()

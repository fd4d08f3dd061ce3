"""ChannelExplorer's Dash application factory."""

from __future__ import annotations

import logging
import os
import threading

from dash import Dash

from app.config import Config

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets")


def _preload() -> None:
    """Import, now, what request threads would otherwise import on first use.

    Background jobs fork the web process; a fork while another thread holds
    an import lock leaves the child waiting on that lock for ever.  Keras is
    deliberately not here: it only ever loads inside jobs.
    """
    import scipy.cluster.hierarchy  # noqa: F401
    import sklearn.cluster  # noqa: F401
    import sklearn.decomposition  # noqa: F401
    import sklearn.neighbors  # noqa: F401

    import analysis.findings  # noqa: F401
    import analysis.projection  # noqa: F401


def create_app(config: Config | None = None) -> Dash:
    """Build the app: manager, layout and callbacks for ``config``.

    Gunicorn's ``server`` (``app.wsgi``), ``python -m app`` and every test call
    this same factory.  Nothing here loads a model: TensorFlow is not
    fork-safe, so models are only loaded inside background jobs.
    """
    config = config or Config()
    # Before TensorFlow loads anywhere (jobs inherit it): no start-up info lines in the app log.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Before anything loads OpenMP or numba: idle OpenMP threads sleep instead of
    # spinning (spinning made t-SNE 15-50x slower on 2 busy cores), and numba
    # kernels are cached on disk for every job process.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from app.warmup import numba_cache_dir, start_umap_warmup

    os.environ.setdefault("NUMBA_CACHE_DIR", numba_cache_dir(config))

    import callbacks
    import layouts
    from callbacks.errors import on_error
    from threadpoolctl import threadpool_limits

    from analysis.store import open_cache
    from app import hardening
    from app.manager import build_manager

    # One BLAS thread per request in the web process: Dash runs callbacks in
    # parallel request threads, and several multi-threaded OpenBLAS calls at
    # once were seen to stall for minutes on 2 busy cores.  Jobs set their own
    # limits (config.job_threads).
    threadpool_limits(1)
    _preload()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    manager = build_manager(config)
    app = Dash(
        "channelexplorer",
        title="ChannelExplorer",
        assets_folder=ASSETS,
        background_callback_manager=manager,
        serve_locally=True,
        on_error=on_error,  # UserError: the failed panel's message; other errors: logged, with an id
    )
    app.config_obj = config
    app.results = open_cache(config.results_dir, config.cache_size_limit)
    app.layout = layouts.build(config)
    callbacks.register(app, config)
    hardening.install(app.server)
    if config.warm_umap:
        warmup = start_umap_warmup(config)
        if warmup is not None:  # reap it when it ends (no <defunct> child left behind)
            threading.Thread(target=warmup.wait, name="umap-warmup-reaper", daemon=True).start()
    return app

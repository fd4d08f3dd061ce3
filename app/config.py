"""Configuration from environment variables (``CHANNELEXPLORER_*``) and CLI flags.

Flags override the environment; the environment overrides defaults.  The
same environment must give every Gunicorn worker (and Celery worker) the
same configuration, so nothing here is random.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, replace

from analysis.datasets import PREPROCESS_MODES
from analysis.pipeline import DEMO_DATA, DEMO_DIR, DEMO_MODEL

PREFIX = "CHANNELEXPLORER_"
GB = 1024 ** 3


def default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "channelexplorer")


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "channelexplorer")


@dataclass(frozen=True)
class Config:
    """Everything ``create_app`` needs.

    Attributes
    ----------
    model, data : str
        What the page opens with (``demo`` and the demo image folder by default).
    data_roots : tuple of str
        Folders the page may read images (and models) from; always includes
        the demo and the folders of ``model``/``data`` given at start.
    cache_dir : str
        Result cache and background-job cache live below it (mode 0700).
    cache_size_limit : int
        Bytes; least-recently-stored entries are evicted beyond it.
    background : str
        ``diskcache`` (one machine) or ``celery`` (Redis at ``redis_url``).
    """

    model: str = "demo"
    data: str = DEMO_DATA
    data_roots: tuple = ()
    preprocess: str = "auto"
    layers: str = "conv_dense"
    batch_size: int = 32
    cache_dir: str = field(default_factory=default_cache_dir)
    cache_size_limit: int = 4 * GB
    data_dir: str = field(default_factory=default_data_dir)
    background: str = "diskcache"
    redis_url: str = "redis://127.0.0.1:6379/0"
    job_threads: int = 2
    memory_mb: int = 1400  # a job's memory target: the batch size is lowered to fit it
    host: str = "127.0.0.1"
    port: int = 8050
    debug: bool = False
    autorun: bool = True
    warm_umap: bool = True
    p90: bool = False  # also the exact 90th percentile (extraction about 1.6x slower)
    demo: str = "subset"  # "full": all 10,000 Fashion-MNIST test images (see resolve_demo)

    @property
    def allowed_roots(self) -> tuple:
        """Data roots plus the demo and the folders named at start."""
        roots = list(self.data_roots) or []
        roots.append(DEMO_DIR)
        if self.data:
            roots.append(os.path.realpath(self.data))
        if self.model and os.path.exists(self.model):
            roots.append(os.path.dirname(os.path.realpath(self.model)))
        return tuple(dict.fromkeys(os.path.realpath(r) for r in roots))

    @property
    def marks_path(self) -> str:
        return os.path.join(self.data_dir, "marks.sqlite")

    @property
    def results_dir(self) -> str:
        return os.path.join(self.cache_dir, "results")

    @property
    def jobs_dir(self) -> str:
        return os.path.join(self.cache_dir, "jobs")

    def with_overrides(self, **changes) -> "Config":
        return replace(self, **changes)


def _bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


_ENV_TYPES = {
    "model": str, "data": str, "preprocess": str, "layers": str, "batch_size": int,
    "cache_dir": str, "cache_size_limit": int, "data_dir": str, "background": str, "redis_url": str,
    "job_threads": int, "memory_mb": int, "host": str, "port": int, "debug": _bool, "autorun": _bool, "warm_umap": _bool,
    "p90": _bool, "demo": str,
}


def from_env(environ=None) -> Config:
    """A Config from ``CHANNELEXPLORER_*`` variables (``DATA_ROOTS`` is os.pathsep-separated)."""
    environ = os.environ if environ is None else environ
    values = {}
    for name, convert in _ENV_TYPES.items():
        raw = environ.get(PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = convert(raw)
    roots = environ.get(PREFIX + "DATA_ROOTS")
    if roots:
        values["data_roots"] = tuple(r for r in roots.split(os.pathsep) if r)
    return Config(**values)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m app",
        description="ChannelExplorer: explore a Keras CNN's channels on a labelled image set.")
    p.add_argument("--model", help="a .keras file, a keras.applications name whose weights are in "
                   "the local Keras cache (vgg16, resnet50, ...; 'vgg16:random' for random "
                   "weights), or 'demo' (default)")
    p.add_argument("--data", help="a folder with one sub-folder of images per class "
                   "(default: the demo Fashion-MNIST subset)")
    p.add_argument("--data-root", action="append", dest="data_roots", metavar="DIR",
                   help="a folder the page may open data and models from (repeatable); the "
                   "demo and the --model/--data folders are always allowed")
    p.add_argument("--preprocess", choices=("auto",) + PREPROCESS_MODES,
                   help="input preprocessing; auto = the keras.applications model's own; for "
                   "a model file, raw 0..255 pixels, unless it has no Rescaling layer and another "
                   "mode is clearly more accurate on 32 sample images")
    p.add_argument("--layers", choices=("conv_dense", "all"),
                   help="layers to extract: conv and dense (default) or all with a channel axis")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--cache-dir", help=f"result cache folder (default {default_cache_dir()})")
    p.add_argument("--cache-size-limit", type=int, help="bytes (default 4 GiB)")
    p.add_argument("--data-dir", help="durable user data: marks on inputs "
                   f"(default {default_data_dir()})")
    p.add_argument("--background", choices=("diskcache", "celery"))
    p.add_argument("--redis-url")
    p.add_argument("--job-threads", type=int, help="threads for TensorFlow/BLAS in a job")
    p.add_argument("--memory-mb", type=int, help="a job's memory target in MB (default 1400): the "
                   "batch size is lowered until the model's widest maps fit; more is faster for "
                   "large models (VGG16 at 224 px gets batch 1 at 1400)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--debug", action="store_true", default=None,
                   help="Dash debug mode: development only, never on a shared server")
    p.add_argument("--no-autorun", dest="autorun", action="store_false", default=None,
                   help="do not start the analysis when the page opens")
    p.add_argument("--no-warm-umap", dest="warm_umap", action="store_false", default=None,
                   help="do not compile UMAP in the background at start")
    p.add_argument("--demo", choices=("subset", "full"),
                   help="demo images: the 2,000 in the repository (default) or all 10,000 "
                   "Fashion-MNIST test images, written into the cache folder on first use")
    p.add_argument("--p90", action="store_true", default=None,
                   help="also compute each channel's exact 90th percentile (a partial sort of "
                   "every map: the extraction takes about 1.6x as long)")
    return p


def from_args(argv=None, environ=None) -> Config:
    """Environment config overridden by command-line flags."""
    args = parser().parse_args(argv)
    config = from_env(environ)
    changes = {k: v for k, v in vars(args).items() if v is not None}
    if "data_roots" in changes:
        changes["data_roots"] = tuple(config.data_roots) + tuple(changes["data_roots"])
    return config.with_overrides(**changes)


def resolve_demo(config: Config) -> Config:
    """With ``demo="full"`` and the demo images chosen, the full demo's folder
    (written into the cache folder on first use: a few seconds, once)."""
    if config.demo != "full" or os.path.realpath(config.data) != os.path.realpath(DEMO_DATA):
        return config
    from analysis.fulldemo import ensure_full_demo

    return config.with_overrides(data=ensure_full_demo(config.cache_dir))

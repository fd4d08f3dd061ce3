"""ChannelExplorer from a notebook: an in-memory Keras model and a folder (or arrays).

::

    from app.notebook import show
    show(model, "path/to/images")                        # inline in Jupyter
    show(model, images=x, labels=y, class_names=names)   # arrays instead of a folder
    app = show(model, "images", mode="external")         # print the URL; app.stop() ends it

The model is saved into the cache folder under its content hash (config +
weights), so the same model is saved once and its analyses are cached like any
other; arrays are written as PNG files under the cache folder (one sub-folder
per class).  The app itself runs in its own process (``python -m app``), so no
model is ever loaded in the notebook's web server: TensorFlow is not fork-safe
once a model has run in a process, and the app's background jobs fork from the
web process.  ``mode="inline"`` shows that server in the notebook (an iframe, as
Dash's ``jupyter_mode="inline"`` does); ``"external"`` prints its URL; ``"tab"``
opens a browser tab.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = ("inline", "external", "tab")


def model_hash(model) -> str:
    """Content hash of a Keras model: its architecture JSON and every weight's bytes."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(model.to_json().encode("utf-8"))
    for weight in model.get_weights():
        array = np.ascontiguousarray(weight)
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_model(model, cache_dir: str) -> str:
    """The model as ``<cache_dir>/models/<content hash>.keras`` (saved once); returns the path."""
    folder = os.path.join(cache_dir, "models")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    path = os.path.join(folder, f"{model_hash(model)}.keras")
    if not os.path.exists(path):
        partial = path[:-len(".keras")] + f".{os.getpid()}.partial.keras"
        model.save(partial)
        os.replace(partial, path)
    return path


def _folder_name(name: str, used: set) -> str:
    safe = "".join(c if c.isalnum() or c in "-_. " else "_" for c in str(name)).strip(" .") or "class"
    candidate, n = safe, 2
    while candidate in used:
        candidate, n = f"{safe}_{n}", n + 1
    used.add(candidate)
    return candidate


def write_arrays(images, labels, class_names, cache_dir: str) -> str:
    """Images (N, H, W, C or N, H, W; values 0..255) as PNG files, one sub-folder per class.

    Floats are rounded and clipped to 0..255 (PNG keeps 8 bits). The folder is named by a hash
    of the arrays, so the same arrays give the same folder (and the same cached analysis).
    """
    from PIL import Image

    images = np.asarray(images)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    names = [str(name) for name in class_names]
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (3, 4)):
        raise ValueError("images must have shape (N, H, W), (N, H, W, 1), (N, H, W, 3) or (N, H, W, 4)")
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
        raise ValueError(f"labels must be in 0..{len(names) - 1} (one per class name)")
    pixels = np.clip(np.rint(images), 0, 255).astype(np.uint8) if images.dtype != np.uint8 else images
    digest = hashlib.blake2b(digest_size=12)
    for part in (pixels.tobytes(), labels.tobytes(), json.dumps(names).encode()):
        digest.update(part)
    root = os.path.join(cache_dir, "notebook-data", digest.hexdigest())
    if os.path.isdir(root):
        return root
    partial = root + f".{os.getpid()}.partial"
    used = set()
    folders = [_folder_name(name, used) for name in names]
    for folder in folders:
        os.makedirs(os.path.join(partial, folder), exist_ok=True)
    with open(os.path.join(partial, "classes.txt"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(folders) + "\n")  # keeps label order = class_names order
    for i, (image, label) in enumerate(zip(pixels, labels)):
        Image.fromarray(image).save(os.path.join(partial, folders[label], f"{i:06d}.png"))
    os.replace(partial, root)
    return root


def prepare(model, data=None, *, images=None, labels=None, class_names=None, cache_dir=None) -> dict:
    """Save the model (and arrays) into the cache folder; returns ``model``, ``data``, ``cache_dir``."""
    from app.config import default_cache_dir

    cache_dir = os.path.abspath(os.path.expanduser(cache_dir or default_cache_dir()))
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    if (data is None) == (images is None):
        raise ValueError("give a folder (data=...) or arrays (images=..., labels=..., class_names=...)")
    if images is not None:
        if labels is None or class_names is None:
            raise ValueError("arrays need labels=... and class_names=...")
        data = write_arrays(images, labels, class_names, cache_dir)
    model_path = model if isinstance(model, str) else save_model(model, cache_dir)
    return {"model": model_path, "data": os.path.abspath(os.path.expanduser(data)), "cache_dir": cache_dir}


class Running:
    """A ChannelExplorer server started by :func:`show`; ``stop()`` ends it."""

    def __init__(self, url: str, process: subprocess.Popen, log_path: str, height: int = 900):
        self.url, self.process, self.log_path, self.height = url, process, log_path, height

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def _repr_html_(self) -> str:
        return (f'<iframe src="{self.url}" width="100%" height="{self.height}" '
                'style="border: 1px solid #d5dae1"></iframe>')

    def __repr__(self) -> str:
        return f"ChannelExplorer at {self.url}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def show(model, data=None, *, images=None, labels=None, class_names=None, mode: str = "inline",
         port: int | None = None, cache_dir: str | None = None, height: int = 900,
         timeout: float = 180.0, args=(), in_process: bool = False):
    """Open ChannelExplorer on ``model`` (a ``keras.Model`` or a model file) and the images.

    Parameters
    ----------
    data : str, optional
        A folder with one sub-folder of images per class; or give ``images``
        (N, H, W[, C], values 0..255), ``labels`` (N,) and ``class_names``.
    mode : "inline", "external" or "tab"
        Show in the notebook, print the URL, or open a browser tab.
    args : sequence of str
        More ``python -m app`` flags (e.g. ``["--layers", "all"]``).
    in_process : bool
        Run the Dash app in the notebook's own process with Dash's
        ``jupyter_mode`` instead (returns the Dash app). Only safe when no
        model has run in the notebook: background jobs fork from it.

    Returns
    -------
    Running (``.url``, ``.stop()``), or the Dash app with ``in_process``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    paths = prepare(model, data, images=images, labels=labels, class_names=class_names,
                    cache_dir=cache_dir)
    port = port or _free_port()
    if in_process:
        from app import create_app
        from app.config import Config

        config = Config(model=paths["model"], data=paths["data"], cache_dir=paths["cache_dir"], port=port)
        app = create_app(config)
        app.run(jupyter_mode=mode, port=port, jupyter_height=height)
        return app
    url = f"http://127.0.0.1:{port}/"
    log_path = os.path.join(paths["cache_dir"], f"notebook-server-{port}.log")
    command = [sys.executable, "-m", "app", "--model", paths["model"], "--data", paths["data"],
               "--cache-dir", paths["cache_dir"], "--port", str(port), *args]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, PYTHONUNBUFFERED="1"))
    running = Running(url, process, log_path, height)
    deadline = time.time() + timeout
    while True:
        if process.poll() is not None:
            with open(log_path, encoding="utf-8", errors="replace") as handle:
                tail = handle.read()[-2000:]
            raise RuntimeError(f"ChannelExplorer did not start (exit {process.returncode}):\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except OSError:
            if time.time() > deadline:
                running.stop()
                raise RuntimeError(f"ChannelExplorer did not answer on {url} within {timeout:.0f} s; "
                                   f"see {log_path}") from None
            time.sleep(0.5)
    if mode == "inline":
        try:
            from IPython.display import display
            display(running)
        except ImportError:
            print(running)
    elif mode == "tab":
        import webbrowser
        webbrowser.open(url)
    else:
        print(f"ChannelExplorer at {url}")
    return running

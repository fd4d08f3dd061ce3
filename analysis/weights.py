"""Building and loading Keras models without a full-size temporary copy of each weight.

Keras creates every variable from its initializer (a Glorot-uniform kernel makes
several full-size temporaries) and then loads stored weights by reading each
whole array into numpy and assigning it (one more full-size copy). VGG16's
first dense kernel alone is 392 MiB, so a model of 528 MiB of weights peaked at
about 1.4 GiB above the imported libraries while it was built.

Here, within :func:`lean_variables` (on the calling thread only, TensorFlow
backend), each float variable is created on a zeroed numpy buffer whose pages
are not touched yet, shared with TensorFlow through DLPack (no copy), and its
values are then written straight into that buffer:

* random weights (:func:`fill_initial_values`): drawn in row slices from the
  same distribution as the variable's Keras initializer (Glorot-uniform,
  He-normal, ...) by a seeded numpy generator, so the same ``random_state``
  gives the same weights; they are **not** the numbers Keras itself would draw;
* stored weights (``analysis.weight_files.load_keras_file``): read by h5py from the ``.keras``
  archive's ``model.weights.h5`` directly into the buffer, each variable found by
  Keras's own loader (``saving_lib._load_state``), so the result is bit-identical
  to ``keras.saving.load_model(path, safe_mode=True)``; legacy ``.h5`` files and
  ``keras.applications`` weight files loaded by Keras inside the block are read
  the same way (Keras's ``legacy_h5_format`` hands datasets, not arrays, to ``assign``).

(Writing through TensorFlow instead, ``ResourceStridedSliceAssign``, put the
variable in copy-on-read mode: every forward pass then copied the weights.)
Each buffer is checked to still be the variable's memory after it is written;
where it is not, and for anything this module does not understand (an
initializer it cannot sample, a weights file that is not a plain
``model.weights.h5``, another backend), Keras's own code runs: more memory,
never a different result.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from analysis.initializers import sampler

log = logging.getLogger(__name__)

# Largest slice of random values drawn at once.
CHUNK_BYTES = 8 * 2**20
_PATCH_LOCK = threading.Lock()  # One patched build at a time per process.
_LEAN_DTYPES = ("float16", "float32", "float64")


class _Scope:
    """What a :func:`lean_variables` block made: variables on shared buffers, and their initializers."""

    def __init__(self, thread: int):
        self.thread = thread
        self.pending: list = []  # (variable, initializer), in creation order
        self.buffers: dict = {}  # id(variable) -> the numpy buffer it shares
        self.loaded: set = set()  # ids of variables written from a weights file


class StoredArray:
    """A dataset of a weights file, handed to ``Variable.assign`` instead of its values.

    Inside :func:`lean_variables` it is read straight into the variable's buffer;
    anything else that asks for an array gets the whole array (correct, not lean).
    """

    def __init__(self, dataset):
        self.dataset = dataset
        self.shape = tuple(dataset.shape)
        self.dtype = dataset.dtype

    def __array__(self, dtype=None, copy=None):
        values = self.dataset[()]
        return values if dtype is None else values.astype(dtype)


def _aligned_zeros(shape, dtype) -> np.ndarray:
    """Zeros whose pages are not touched until written (calloc), 64-byte aligned as
    TensorFlow requires to share a buffer instead of copying it."""
    size = max(1, math.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.zeros(size + 64, np.uint8)
    offset = (-raw.ctypes.data) % 64
    return raw[offset:offset + size].view(dtype)[:math.prod(shape)].reshape(shape)


def _shares_buffer(variable, buffer: np.ndarray) -> bool:
    """Whether ``variable``'s TensorFlow tensor is ``buffer``'s memory (no copy was made)."""
    import tensorflow as tf

    if buffer.size == 0:
        return True
    view = np.from_dlpack(_Capsule(tf.experimental.dlpack.to_dlpack(variable.value.read_value())))
    return view.ctypes.data == buffer.ctypes.data


class _Capsule:
    """A CPU DLPack capsule in the protocol ``np.from_dlpack`` takes."""

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, **_):
        return self.capsule

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU, device 0


def _check_shared(scope: _Scope, variable, fallback) -> None:
    """Assign ``fallback()`` the ordinary way if ``variable`` no longer uses its buffer."""
    buffer = scope.buffers.get(id(variable))
    if buffer is not None and not _shares_buffer(variable, buffer):
        log.warning("%s was copied by TensorFlow; assigned again in full", variable.path)
        variable.assign(np.array(fallback(buffer)))


@contextlib.contextmanager
def lean_variables():
    """Within the block, float Keras variables created on this thread share zeroed numpy buffers.

    Yields a scope whose ``pending`` lists ``(variable, initializer)`` for each
    variable so created: the caller either fills them (:func:`fill_initial_values`)
    or loads stored weights into them. While the block runs, each variable assigned
    is marked as loaded, ``variable.assign`` of a :class:`StoredArray` reads the
    dataset straight into the buffer, and Keras's legacy ``.h5`` weight loader hands
    out such datasets. The patches are restored when the block exits and apply to
    this thread only (other threads build as Keras does). Outside the TensorFlow
    backend the block changes nothing.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        yield _Scope(-1)
        return
    import tensorflow as tf
    from keras.src.backend.tensorflow.core import Variable
    from keras.src.legacy.saving import legacy_h5_format as legacy

    with _PATCH_LOCK:
        scope = _Scope(threading.get_ident())
        original_init = Variable.__dict__["_initialize_with_initializer"]
        had_assign = "assign" in Variable.__dict__
        original_assign = Variable.assign

        def initialize(variable, initializer):
            if threading.get_ident() != scope.thread or str(variable.dtype) not in _LEAN_DTYPES:
                return original_init(variable, initializer)
            buffer = _aligned_zeros(tuple(variable._shape), variable._dtype)
            variable._initialize(tf.experimental.dlpack.from_dlpack(buffer.__dlpack__()))
            scope.buffers[id(variable)] = buffer
            scope.pending.append((variable, initializer))

        def assign(variable, value):
            if threading.get_ident() != scope.thread:
                return original_assign(variable, value)
            scope.loaded.add(id(variable))  # set by its loader: not to be initialised
            buffer = scope.buffers.get(id(variable))
            if not isinstance(value, StoredArray) or buffer is None:
                return original_assign(variable, value)
            if value.shape != buffer.shape:
                raise ValueError(f"The shape of {variable.path} is {buffer.shape}, "
                                 f"the stored weight's {value.shape}.")
            if buffer.size:
                value.dataset.read_direct(buffer)  # HDF5 converts the dtype if they differ
            _check_shared(scope, variable, lambda _: value.dataset[()])
            return value

        original_subset = legacy.load_subset_weights_from_hdf5_group

        def load_subset(group):
            """A legacy ``.h5`` layer's weights as datasets, for ``assign`` to read in place."""
            if threading.get_ident() != scope.thread:
                return original_subset(group)
            names = legacy.load_attributes_from_hdf5_group(group, "weight_names")
            return [StoredArray(legacy.safe_get_h5_dataset(group, name)) for name in names]

        Variable._initialize_with_initializer = initialize
        Variable.assign = assign
        legacy.load_subset_weights_from_hdf5_group = load_subset
        try:
            yield scope
        finally:
            legacy.load_subset_weights_from_hdf5_group = original_subset
            Variable._initialize_with_initializer = original_init
            if had_assign:
                Variable.assign = original_assign
            else:
                del Variable.assign


def _usable_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _backend_threads() -> int:
    """TensorFlow's intra-op thread count when set (``models.configure_threads``), else 0."""
    try:
        import tensorflow as tf
        return int(tf.config.threading.get_intra_op_parallelism_threads())
    except (ImportError, AttributeError):
        return 0


def fill_initial_values(scope: _Scope, random_state: int = 0, threads: int | None = None) -> int:
    """Give each variable of ``scope`` not loaded from a file its initial values.

    Variable ``k`` is drawn in row slices of at most ``CHUNK_BYTES``, the slice
    starting at row ``r`` from ``numpy.random.default_rng([random_state, k, r])``,
    on up to ``threads`` threads (numpy draws without the GIL; default: the
    backend's intra-op thread count, which a job sets from its thread setting,
    else 4; never more than the usable CPUs): the same values whatever the
    thread count. An initializer this module cannot sample is called
    as Keras would (full size, unseeded). The scope lets go of its buffers afterwards.

    Returns
    -------
    int
        The number of variables given non-zero values.
    """
    filled, slices, drawn = 0, [], []
    workers = max(1, min(threads or _backend_threads() or 4, _usable_cpus()))
    with ThreadPoolExecutor(workers, thread_name_prefix="weight-fill") as pool:
        for index, (variable, initializer) in enumerate(scope.pending):
            if id(variable) in scope.loaded:
                continue
            buffer = scope.buffers[id(variable)]
            shape = buffer.shape
            try:
                draw = sampler(initializer, shape)
            except TypeError:
                variable.assign(initializer(shape, dtype=variable.dtype))
                filled += 1
                continue
            if draw is None:
                continue
            if not shape:
                buffer[()] = draw(np.random.default_rng([random_state, index]), ())
            else:
                step = max(1, CHUNK_BYTES // max(1, buffer[:1].nbytes))

                def fill(start, buffer=buffer, draw=draw, step=step, index=index):
                    stop = min(buffer.shape[0], start + step)
                    rng = np.random.default_rng([random_state, index, start])
                    buffer[start:stop] = draw(rng, (stop - start,) + buffer.shape[1:])

                slices.extend(pool.submit(fill, start) for start in range(0, shape[0], step))
            drawn.append(variable)
            filled += 1
    for done in slices:
        done.result()  # a failed draw raises here
    for variable in drawn:
        _check_shared(scope, variable, lambda kept: kept)
    scope.pending.clear()
    scope.buffers.clear()
    return filled


def release_freed_memory(collect: bool = False) -> None:
    """Return freed memory to the system (glibc ``malloc_trim``), where possible.

    With ``collect``, first collect garbage: a Keras model the caller dropped is
    held by reference cycles until then, and its weights (the buffers of
    ``lean_variables``) go back to the system only when it is collected.
    """
    if collect:
        import gc

        gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def build_lean(constructor, random_state: int = 0):
    """``constructor()`` (a Keras model builder, e.g. ``keras.applications.VGG16`` with
    ``weights=None``) with its variables filled from their initializers'
    distributions in slices, seeded by ``random_state``, without full-size temporaries."""
    with lean_variables() as scope:
        model = constructor()
    fill_initial_values(scope, random_state)
    release_freed_memory()
    return model

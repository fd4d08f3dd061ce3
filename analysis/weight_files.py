"""Loading a ``.keras`` file with its weights read straight into the model's variables.

``keras.saving.load_model`` reads the archive's ``model.weights.h5`` into memory
(as a whole when there is room) and each array into numpy before assigning it;
here the config is deserialised by Keras in safe mode inside
``analysis.weights.lean_variables`` and Keras's own ``_load_state`` walks the
model, handed datasets instead of arrays, which h5py reads into each variable's
buffer: the same weights, bit for bit, in the same variables.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile

from analysis.weights import CHUNK_BYTES, StoredArray, fill_initial_values, lean_variables, \
    release_freed_memory

log = logging.getLogger(__name__)


def load_keras_file(path: str, fallback: bool = True):
    """``keras.saving.load_model(path, compile=False, safe_mode=True)``, without the copies.

    The config is deserialised by Keras in safe mode; each stored weight is read
    from the archive's ``model.weights.h5`` straight into its variable's memory.
    Archives with assets or other weight formats, and any failure of this path,
    are loaded by Keras's own loader instead (whose error, if any, is raised),
    unless ``fallback`` is False: then the failure is raised.
    """
    import keras

    try:
        return _load_keras_lean(path)
    except Exception as error:  # noqa: BLE001 (Keras's loader decides; its error is the user's)
        if not fallback:
            raise
        log.info("lean loading of %s fell back to Keras's loader: %s", path, error)
    release_freed_memory()
    return keras.saving.load_model(path, compile=False, safe_mode=True)


def _load_keras_lean(path: str):
    import keras
    from keras.src.saving import saving_lib

    if keras.backend.backend() != "tensorflow":
        raise NotImplementedError("lean loading needs the TensorFlow backend")
    with zipfile.ZipFile(path, "r") as archive:
        names = archive.namelist()
        if saving_lib._VARS_FNAME_H5 not in names or len(names) > 3:
            raise NotImplementedError(f"archive members {names}")
        config_json = saving_lib._safe_zip_read(archive, saving_lib._CONFIG_FILENAME)
        saving_lib._reject_zip_bomb(archive, saving_lib._VARS_FNAME_H5)
        with tempfile.TemporaryDirectory(prefix="channelexplorer-weights-") as folder:
            # h5py needs random access: the member is copied out (page cache, not RSS).
            weights_path = os.path.join(folder, "model.weights.h5")
            with archive.open(saving_lib._VARS_FNAME_H5) as source, \
                    open(weights_path, "wb") as target:
                shutil.copyfileobj(source, target, CHUNK_BYTES)
            with lean_variables() as scope:
                model = saving_lib._model_from_config(config_json, None, False, True)
                store = _lean_store_class()(weights_path, mode="r")
                failed, messages = set(), {}
                try:
                    saving_lib._load_state(model, weights_store=store, assets_store=None,
                                           inner_path="", visited_saveables=set(),
                                           failed_saveables=failed, error_msgs=messages)
                finally:
                    store.close()
            if failed:
                raise ValueError(f"{len(failed)} objects failed to load")
    # Variables the file did not cover get their initial values, as in Keras.
    fill_initial_values(scope)
    release_freed_memory()
    return model


def _lean_store_class():
    from keras.src.saving import saving_lib

    class LeanH5Store(saving_lib.H5IOStore):
        """Keras's weights store, handing out datasets instead of whole arrays."""

        def __getitem__(self, key):
            dataset = saving_lib.safe_get_h5_dataset(self._h5_entry_group, key)
            if dataset.attrs.get("dtype") == "bfloat16":
                return super().__getitem__(key)
            return StoredArray(dataset)

    return LeanH5Store

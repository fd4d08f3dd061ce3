"""A loaded model fitted to a labelled folder, before extraction: its input (a channel axis,
open sides set from the images), its class output (a subset of its classes named in
``classes.txt``) and, for ``auto``, the preprocessing it works with.

No Keras import here: the model's own functions come through ``analysis.extraction``,
imported inside the functions, which run only in the analysis job.
"""

from __future__ import annotations

import numpy as np

from analysis import datasets


def fit_model(model, folder) -> tuple:
    """The model as the analysis runs it, and sentences for the page saying what changed:
    an input without a channel axis gets one, open sides are set from the images
    (``models.fix_input_size``), a one-unit class output becomes two columns
    (``models.two_class_output``), and a ``classes.txt`` that maps folders to model outputs
    narrows the class output to them (``models.select_outputs``).  :func:`refit` does the same
    again for a stored analysis."""
    from analysis import extraction

    notes = []
    channelless = extraction.channelless_input(model)
    if channelless or extraction.free_input_size(model):
        given = tuple(model.inputs[0].shape)[1:3]
        typical = datasets.typical_size(folder) if None in given else None
        model = extraction.fix_input_size(model, typical)
        height, width = model.inputs[0].shape[1:3]
        if channelless:
            notes.append("The model's input has no channel axis: images are read as grayscale and "
                         "given one.")
        if None in given:
            why = ("the typical size of this folder's images" if typical == (height, width) else
                   f"the folder's typical {typical[0]} × {typical[1]} scaled up until the model "
                   "could run at it")
            notes.append(f"The model takes any input size: images were resized to {height} × "
                         f"{width} px, {why}.")
    if extraction.binary_output(model):  # Dense(1, "sigmoid"): P(second class), as Keras's labels
        second = folder.class_names[1] if len(folder.class_names) > 1 else "the second class"
        notes.append(f"The model has one output (a binary classifier): read as the probability "
                     f"of {second!r}, the second class folder, as Keras's binary labels are.")
    model = extraction.two_class_output(model)
    if folder.output_index is not None:  # classes.txt: some of the model's classes
        model = extraction.select_outputs(model, folder.output_index)
        shown = ", ".join(map(str, folder.output_index[:8])) + (
            ", ..." if len(folder.output_index) > 8 else "")
        notes.append(f"classes.txt maps the {len(folder.class_names)} class folders to model "
                     f"outputs {shown}: predictions are among these classes.")
    return model, notes


def refit(model, meta: dict):
    """The model of a stored analysis (``meta``), loaded again, as :func:`fit_model` left it."""
    from analysis import extraction

    model = extraction.fix_input_size(model, meta["input_shape"][:2])  # no-op when fixed
    model = extraction.two_class_output(model)
    if meta.get("output_columns") is not None:  # the folder holds some of the model's classes
        model = extraction.select_outputs(model, meta["output_columns"])
    return model


#: Images (spread over the classes) on which ``auto`` preprocessing is chosen for a model file
#: without a Rescaling layer, and the accuracy gain over raw pixels, and over naming one class
#: for every image, that a mode must show (it must also be beyond luck: images it gets right and
#: raw pixels do not, less the reverse, at least twice their standard deviation plus one).
PROBE_IMAGES = 32
PROBE_MARGIN = 0.15
PROBE_SCREEN = 8  # images every mode is tried on; the rest only for modes near the best
_MODE_WORDS = {"raw": "raw 0..255 pixels", "unit": "0..1", "symmetric": "-1..1",
               "caffe": "caffe: BGR, ImageNet mean subtracted", "torch": "torch: ImageNet mean and std"}


def probe_preprocessing(model, folder, shape, batch_size) -> tuple[str, str | None]:
    """``auto`` preprocessing for a model file that does not scale its input itself:
    the mode (``datasets.PREPROCESS_MODES``) under which the model is most accurate on
    ``PROBE_IMAGES`` images spread over the classes, when it beats raw pixels by
    ``PROBE_MARGIN`` and beyond chance (a paired sign test); else ``raw``.  Only when the
    model's classes are the folder's (otherwise accuracy means nothing).  Returns (mode, sentence for the page or None)."""
    from analysis import extraction

    outputs = model.outputs[0].shape if len(model.outputs) == 1 else ()
    n_outputs = outputs[-1] if len(outputs) == 2 else None
    labels = np.asarray(folder.labels)
    if n_outputs != len(folder.class_names):
        return "raw", None
    per_class = max(1, -(-PROBE_IMAGES // len(folder.class_names)))
    by_class = [members[np.linspace(0, len(members) - 1, min(per_class, len(members))).round().astype(int)]
                for members in (np.flatnonzero(labels == c) for c in range(len(folder.class_names)))]
    # Round robin over the classes, so the first images screen every class they can.
    picks = np.array([members[i] for i in range(per_class) for members in by_class if i < len(members)])
    sample = datasets.ImageFolder(folder.root, [folder.files[i] for i in picks], labels[picks],
                                  folder.class_names)
    raw = datasets.ImageBatches(sample, shape[:2], shape[2], "raw")
    pixels = raw[0:len(sample)]
    keep = np.setdiff1d(np.arange(len(sample)), np.fromiter(raw.bad, int, len(raw.bad)))
    if len(keep) < 4:
        return "raw", None
    pixels, truth = pixels[keep], labels[picks][keep]
    modes = [m for m in datasets.PREPROCESS_MODES if shape[2] == 3 or m not in ("caffe", "torch")]

    def right(mode, part):  # which of the sample's images the model gets right under ``mode``
        images = datasets.preprocess(pixels[part], mode)
        return extraction.predicted_classes(model, images, min(batch_size, len(images))) == truth[part]

    # Screen every mode on the first images; only raw and those near the best see the rest.
    first, rest = slice(0, PROBE_SCREEN), slice(PROBE_SCREEN, len(truth))
    screened = {mode: right(mode, first) for mode in modes}
    top = max(row.sum() for row in screened.values())
    hits = {mode: np.concatenate([screened[mode], right(mode, rest) if len(truth) > PROBE_SCREEN
                                  else np.zeros(0, bool)])
            for mode in modes if mode == "raw" or screened[mode].sum() >= top - PROBE_SCREEN / 4}
    best = max(hits, key=lambda mode: hits[mode].sum())  # the first of equals: raw leads
    # Paired images (McNemar): right only with ``best`` against right only with raw pixels.
    gained, lost = int(np.sum(hits[best] & ~hits["raw"])), int(np.sum(~hits[best] & hits["raw"]))
    accuracy = {mode: float(h.mean()) for mode, h in hits.items()}
    chance = np.bincount(truth).max() / len(truth)  # one class for every image
    if (accuracy[best] - max(accuracy["raw"], chance) < PROBE_MARGIN
            or gained - lost < 2 * np.sqrt(gained + lost) + 1):
        return "raw", None
    return best, (f"Preprocessing {best!r} ({_MODE_WORDS[best]}) was chosen: the model has no "
                  f"Rescaling layer and is {accuracy[best]:.0%} accurate on {len(truth)} sample "
                  f"images with it, {accuracy['raw']:.0%} with raw 0..255 pixels.")

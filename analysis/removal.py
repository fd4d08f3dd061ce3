"""Remove flagged channels in several layers at once and measure the accuracy.

:mod:`analysis.ablation` zeroes channels of one layer.  To check "removing every
flagged channel" the network needs masks after several layers together, so
this module clones the model once with a :class:`~analysis.ablation.ChannelMask`
after each chosen layer and re-masks that one network for every condition
(flagged, random draws, one layer at a time) without tracing it again.

A removed channel is either zeroed (dead, weak, border channels: the network
loses what they carry) or, for a redundant channel, *merged* into the channel
it copies: it is replaced by ``scale * partner + offset`` (the least-squares
fit on full maps), which is what deleting it and folding its outgoing weights
into the partner's amounts to.  Zeroing a near copy instead throws its share
of the signal away; that is not what "redundant" claims.
Imports Keras: like the extraction modules, use it inside a job only.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

import keras

from keras import ops

from analysis.ablation import _ablation_channels, clone_with_masks, evaluate_accuracy, mask_names
from analysis.errors import ExtractionError


__all__ = ["ChannelRemap", "MaskedModel", "removal_check", "layer_checks", "verify_layer"]


@keras.saving.register_keras_serializable(package="ChannelExplorer")
class ChannelRemap(keras.layers.Layer):
    """Replaces chosen channels by ``scale * x[..., source] + offset`` (scale 0, offset 0: zeroed).

    Non-trainable variables, so one built network can be re-mapped without
    being traced again.
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.keep = self.add_weight(shape=(self.channels,), initializer="ones", trainable=False, name="keep")
        self.source = self.add_weight(shape=(self.channels,), initializer="zeros", trainable=False,
                                      name="source", dtype="int32")
        self.scale = self.add_weight(shape=(self.channels,), initializer="zeros", trainable=False, name="scale")
        self.offset = self.add_weight(shape=(self.channels,), initializer="zeros", trainable=False,
                                      name="offset")
        self.reset()

    def reset(self, zeroed=(), merged=None) -> None:
        """Zero ``zeroed``; replace each ``merged[channel] = (source, scale, offset)``; pass the rest."""
        keep = np.ones(self.channels, np.float32)
        source = np.arange(self.channels, dtype=np.int32)
        scale = np.zeros(self.channels, np.float32)
        offset = np.zeros(self.channels, np.float32)
        keep[np.asarray(list(zeroed), dtype=np.int64)] = 0.0
        for channel, (src, a, b) in (merged or {}).items():
            keep[int(channel)], source[int(channel)] = 0.0, int(src)
            scale[int(channel)], offset[int(channel)] = float(a), float(b)
        for variable, value in ((self.keep, keep), (self.source, source), (self.scale, scale),
                                (self.offset, offset)):
            variable.assign(value)

    def call(self, tensor):
        keep = ops.cast(self.keep, tensor.dtype)
        copied = ops.take(tensor, self.source, axis=-1) * ops.cast(self.scale, tensor.dtype) + ops.cast(
            self.offset, tensor.dtype)
        return tensor * keep + (1.0 - keep) * copied

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


class MaskedModel:
    """A clone of ``model`` with a channel mask after each of ``layers``.

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential; not modified (the clone has its own
        variables holding copies of the weights).
    layers : sequence of str
        Layers whose output channels can be zeroed (see
        ``ablation.ablatable_layers``).
    """

    def __init__(self, model, layers):
        self.widths = {layer: _ablation_channels(model, layer, [])[0] for layer in layers}
        if not self.widths:
            raise ExtractionError("Choose at least one layer to remove channels from.")
        names = mask_names(model, self.widths)
        self.masks = {layer: ChannelRemap(width, name=names[layer]) for layer, width in self.widths.items()}
        self.model = clone_with_masks(model, self.masks, "remove channels")

    def set(self, zeroed: Mapping[str, object], merged: Mapping[str, Mapping] | None = None) -> None:
        """Zero ``zeroed[layer]`` (indices or bool mask) and merge ``merged[layer]`` ({channel:
        (partner, scale, offset)}) in each layer; every other channel passes."""
        merged = merged or {}
        unknown = (set(zeroed) | set(merged)) - set(self.masks)
        if unknown:
            raise ExtractionError(f"No mask after {sorted(unknown)}; masked layers: {sorted(self.masks)}.")
        for layer, mask in self.masks.items():
            fits = merged.get(layer, {})
            self._indices(layer, list(fits) + [int(v[0]) for v in fits.values()])
            mask.reset(self._indices(layer, zeroed.get(layer, ())), fits)

    def _indices(self, layer: str, channels) -> np.ndarray:
        values = np.asarray(channels)
        width = self.widths[layer]
        if values.dtype == bool:
            if values.shape != (width,):
                raise ExtractionError(f"A boolean channel mask for {layer!r} needs {width} entries.")
            return np.flatnonzero(values)
        values = np.unique(values.reshape(-1).astype(np.int64))
        if values.size and (values[0] < 0 or values[-1] >= width):
            raise ExtractionError(f"Channel indices for {layer!r} must be in 0..{width - 1}.")
        return values

    def accuracy(self, zeroed: Mapping[str, object], images, labels, batch_size: int = 32,
                 merged: Mapping[str, Mapping] | None = None) -> float:
        self.set(zeroed, merged)
        return evaluate_accuracy(self.model, images, labels, batch_size)


def _random_like(counts: Mapping[str, int], widths: Mapping[str, int], rng) -> dict:
    return {layer: np.sort(rng.choice(widths[layer], n, replace=False)) for layer, n in counts.items()}


def removal_check(model, images, labels, flagged: Mapping[str, object], n_random_repeats: int = 5,
                  random_state=0, batch_size: int = 32, masked: MaskedModel | None = None,
                  baseline: float | None = None, merged: Mapping[str, Mapping] | None = None) -> dict:
    """Accuracy with every flagged channel of every layer zeroed at once, against as many random ones.

    Parameters
    ----------
    model : keras.Model
    images : ndarray (N, H, W, C) or sliceable image source
        Preprocessed as the model expects.
    labels : ndarray of int, shape (N,)
    flagged : dict[str, sequence of int or bool mask (C,)]
        Layer -> channels to remove.
    n_random_repeats : int >= 1
        Draws of random channels, each with the same count per layer as
        ``flagged``.
    random_state : int or numpy Generator
    masked : MaskedModel, optional
        Reuse an existing masked clone (must cover every layer of ``flagged``).
    baseline : float, optional
        The unmasked accuracy when already measured on the same images.
    merged : dict[str, dict[int, (int, float, float)]], optional
        Layer -> {channel: (partner, scale, offset)}: redundant channels
        replaced by the fit of their partner instead of zeroed (counted as
        removed; the random draws zero as many channels).

    Returns
    -------
    dict
        ``baseline``, ``flagged_accuracy``, ``random_accuracies`` (list),
        ``random_mean``, ``drop_flagged``, ``drop_random`` (accuracy points),
        ``n_removed`` (total), ``per_layer`` (layer -> count),
        ``channels_total`` (channels in those layers).
    """
    if isinstance(n_random_repeats, bool) or int(n_random_repeats) < 1:
        raise ExtractionError("n_random_repeats must be at least 1.")
    merged = {layer: dict(fits) for layer, fits in (merged or {}).items() if fits}
    masked = masked or MaskedModel(model, sorted(set(flagged) | set(merged)))
    chosen = {layer: masked._indices(layer, channels) for layer, channels in flagged.items()}
    chosen = {layer: np.setdiff1d(idx, list(merged.get(layer, {}))) for layer, idx in chosen.items()}
    counts = {layer: int(chosen.get(layer, np.empty(0)).size) + len(merged.get(layer, {}))
              for layer in set(chosen) | set(merged)}
    rng = np.random.default_rng(random_state)
    if baseline is None:
        baseline = masked.accuracy({}, images, labels, batch_size)
    flagged_accuracy = masked.accuracy(chosen, images, labels, batch_size, merged)
    randoms = [masked.accuracy(_random_like(counts, masked.widths, rng), images, labels, batch_size)
               for _ in range(int(n_random_repeats))]
    masked.set({})
    random_mean = float(np.mean(randoms))
    return {"baseline": baseline, "flagged_accuracy": flagged_accuracy, "random_accuracies": randoms,
            "random_mean": random_mean, "drop_flagged": baseline - flagged_accuracy,
            "drop_random": baseline - random_mean, "n_removed": int(sum(counts.values())),
            "per_layer": counts, "channels_total": int(sum(masked.widths[layer] for layer in counts)),
            "n_merged": int(sum(len(f) for f in merged.values()))}


#: Slack of the removal test, far below one input of any data set (1 / 10,000,000 inputs): the
#: drops are differences of accuracies and a mean, so equal accuracies can differ by rounding.
ROUNDING = 1e-9


def removable(drop: float, random_drop: float) -> bool:
    """The removal test: removing the channels costs at most a third of removing as many random
    ones (accuracy drops; equal within rounding counts as equal)."""
    return drop <= random_drop / 3 + ROUNDING


def layer_checks(model, images, labels, flagged: Mapping[str, object], n_random_repeats: int = 5,
                 random_state=0, batch_size: int = 32, masked: MaskedModel | None = None,
                 merged: Mapping[str, Mapping] | None = None) -> dict:
    """:func:`removal_check` one layer at a time (one clone for all layers).

    Returns
    -------
    dict[str, dict]
        Layer -> the :func:`removal_check` result for that layer alone, plus
        ``met``: the flagged drop is at most a third of the mean random drop
        and at least one channel is flagged (a layer with nothing flagged is
        not counted as met).
    """
    masked = masked or MaskedModel(model, list(flagged))
    rng = np.random.default_rng(random_state)
    baseline = masked.accuracy({}, images, labels, batch_size)
    out = {}
    for layer, channels in flagged.items():
        fits = {layer: (merged or {}).get(layer, {})}
        result = removal_check(model, images, labels, {layer: channels}, n_random_repeats, rng,
                               batch_size, masked, baseline, fits)
        result["met"] = bool(result["n_removed"] > 0 and removable(result["drop_flagged"], result["drop_random"]))
        out[layer] = result
    return out


def verify_layer(masked: MaskedModel, images, labels, layer: str, zeroed=(), merged=None,
                 baseline: float | None = None, n_random_repeats: int = 5, random_state=0,
                 batch_size: int = 32, candidates_if_none=(), removed_before=None) -> dict:
    """Keep the flagged channels of ``layer`` whose removal the images confirm.

    The flagged set (``zeroed`` plus the redundant channels in ``merged``) is
    removed at once and compared with as many random channels of the layer.
    While it costs more than a third of the random drop, the channels whose
    removal alone costs accuracy are left out (all of them once, then the
    costliest one at a time), and the rest is checked again.  A layer with
    nothing flagged is checked with ``candidates_if_none`` (e.g. its
    lowest-contribution channels) in the same way.

    ``removed_before`` = (zeroed, merged) of other layers (e.g. what the check
    kept in the layers before this one) stays removed in every evaluation,
    ``baseline`` included: the layer is judged on top of those removals, so
    that the costs of several layers cannot add up unseen.

    Returns
    -------
    dict
        ``kept_zeroed`` (list), ``kept_merged`` (dict), ``left_out`` ({channel:
        accuracy drop when removed alone}), ``added`` (kept channels taken from
        ``candidates_if_none``), ``drop`` and ``random_drop`` of the kept set
        (None when nothing is kept), ``checks`` (sets tried), ``n_images``.
    """
    rng = np.random.default_rng(random_state)
    zeroed = [int(c) for c in zeroed]
    merged = {int(c): fit for c, fit in (merged or {}).items()}
    from_candidates = not zeroed and not merged
    if from_candidates:
        zeroed = [int(c) for c in candidates_if_none]
    before_zeroed, before_merged = ({k: v for k, v in part.items() if k != layer}
                                    for part in (removed_before or ({}, {})))
    if baseline is None:
        baseline = masked.accuracy(before_zeroed, images, labels, batch_size, before_merged)
    width, singles, checks = masked.widths[layer], {}, 0

    def drop_of(zero, merge):
        return baseline - masked.accuracy({**before_zeroed, layer: zero}, images, labels, batch_size,
                                          {**before_merged, layer: merge})

    def single(channel):
        if channel not in singles:
            singles[channel] = (drop_of([], {channel: merged[channel]}) if channel in merged
                                else drop_of([channel], {}))
        return singles[channel]

    result = {"kept_zeroed": [], "kept_merged": {}, "left_out": {}, "added": [], "drop": None,
              "random_drop": None, "checks": 0, "n_images": len(labels), "baseline": baseline}
    pruned = False
    while zeroed or merged:
        count = len(zeroed) + len(merged)
        drop = drop_of(zeroed, merged)
        randoms = [drop_of(list(rng.choice(width, count, replace=False)), {}) for _ in range(n_random_repeats)]
        random_drop = float(np.mean(randoms))
        checks += 1
        if removable(drop, random_drop):
            result.update(kept_zeroed=sorted(zeroed), kept_merged=dict(sorted(merged.items())), drop=drop,
                          random_drop=random_drop, added=sorted(zeroed) if from_candidates else [])
            break
        current = zeroed + list(merged)
        if not pruned:  # first leave out every channel that costs accuracy on its own
            costly = [c for c in current if single(c) > 1e-9]
            pruned = True
            if costly and len(costly) < len(current):
                out = costly
            else:
                out = [max(current, key=lambda c: (single(c), c))]
        else:
            out = [max(current, key=lambda c: (single(c), c))]
        for channel in out:
            result["left_out"][channel] = single(channel)
            if channel in merged:
                del merged[channel]
            else:
                zeroed.remove(channel)
    masked.set({})
    result["checks"] = checks
    return result

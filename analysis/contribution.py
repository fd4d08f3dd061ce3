"""Contribution of each channel to the next layer: activation energy x outgoing weight norm.

A channel's outgoing weights are the slices of the consuming layers' kernels
that multiply it: ``kernel[..., c, :]`` of a convolution, the rows of a Dense
kernel that read it (after a Flatten of a channels-last map: every row whose
index is ``c`` modulo C).  Their norm times the channel's activation energy is
the size of the first-order change of the next layer's input when the channel
is removed (:func:`relative_contribution`).

:func:`outgoing_norms` needs the Keras model (called inside jobs, where the
model is loaded anyway; Keras is imported only then); the rest is plain numpy.
"""

from __future__ import annotations

import numpy as np

from analysis.channels import _as_2d, _check_unit

__all__ = ["outgoing_norms", "relative_contribution", "low_contribution_channels", "PASS_THROUGH"]

#: Layers between a channel and its consumer that keep channels apart (the
#: channel's values are moved, pooled, dropped or scaled, never mixed with
#: other channels): the walk continues through them.
PASS_THROUGH = {
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "Flatten",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "Activation", "ReLU", "LeakyReLU", "ELU", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "BatchNormalization",
}
#: Consumers whose kernel has the input channels on axis -2 (Dense: axis 0 = -2).
_KERNEL_TYPES = {"Conv1D", "Conv2D", "Conv3D", "Dense", "DepthwiseConv1D", "DepthwiseConv2D",
                 "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"}


def relative_contribution(energy, out_norms, eps: float = 1e-6) -> np.ndarray:
    """Each channel's contribution to the next layer over the median of the layer's live channels.

    Contribution = mean activation energy across inputs x norm of the
    channel's outgoing weights (:func:`outgoing_norms`):
    the size of the first-order change of the consuming layer's input when
    the channel is removed.  A channel that is strong but barely read by the
    next layer contributes as little as a weak one.

    Parameters
    ----------
    energy : ndarray of float, shape (N, C)
        Per-input activation energy of each channel (e.g. the L2 norm of its
        map, or its spatial mean).
    out_norms : ndarray of float, shape (C,)
        L2 norm of each channel's outgoing weights.
    eps : float, default 1e-6
        Channels whose contribution is at most ``eps`` x the largest one do
        not enter the median (they are dead or unread).

    Returns
    -------
    ndarray of float64, shape (C,)
        NaN for every channel when no channel contributes.
    """
    e = _as_2d("energy", energy)
    w = np.asarray(out_norms, dtype=np.float64)
    if w.shape != (e.shape[1],) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"out_norms must be finite, >= 0 and of shape ({e.shape[1]},), got {w.shape}")
    contribution = np.clip(e.mean(axis=0), 0.0, None) * w
    live = contribution > eps * contribution.max() if contribution.max() > 0 else np.zeros(w.shape, bool)
    if not live.any():
        return np.full(w.shape, np.nan)
    return contribution / np.median(contribution[live])


def low_contribution_channels(energy, out_norms, threshold: float = 0.1, eps: float = 1e-6) -> np.ndarray:
    """Channels whose :func:`relative_contribution` is below ``threshold``.

    Parameters
    ----------
    energy : ndarray of float, shape (N, C)
    out_norms : ndarray of float, shape (C,)
    threshold : float in (0, 1], default 0.1
    eps : float, default 1e-6

    Returns
    -------
    ndarray of bool, shape (C,)
    """
    rel = relative_contribution(energy, out_norms, eps)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(rel, nan=np.inf) < _check_unit("threshold", threshold, low_open=True)


def _kernel_rows(kernel: np.ndarray, kind: str, width: int) -> np.ndarray | None:
    """Squared norm of the kernel slice of each of ``width`` input channels, or None if it cannot tell."""
    k = np.asarray(kernel, dtype=np.float64)
    if kind.endswith("Transpose"):
        k = np.swapaxes(k, -1, -2)  # (..., out, in) -> (..., in, out)
    if k.ndim < 2:
        return None
    rows = k.shape[-2]
    if rows == width:
        return (np.moveaxis(k, -2, 0).reshape(width, -1) ** 2).sum(axis=1)
    if kind == "Dense" and k.ndim == 2 and rows % width == 0:
        # Dense after Flatten of a channels-last map: row index = position * C + channel.
        return (k.reshape(rows // width, width, -1) ** 2).sum(axis=(0, 2))
    return None


def outgoing_norms(model, layers) -> dict:
    """L2 norm of each channel's outgoing weights, for each of ``layers``.

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential (nested models are entered).
    layers : sequence of str
        Qualified layer names (see :func:`analysis.layers.walk`).

    Returns
    -------
    dict[str, ndarray of float64, shape (C,) or None]
        None for a layer whose output reaches something other than a kernel
        layer through :data:`PASS_THROUGH` layers (an Add, a Concatenate, the
        model's output, a layer that does not keep channels apart), or whose
        consumer's kernel does not match its width: the contribution rule
        then does not apply there.
    """
    from analysis.layers import describe_layers
    rows = describe_layers(model)
    by_name = {row["name"]: row for row in rows}
    consumers = {}
    for row in rows:
        for parent in row["inbound"]:
            consumers.setdefault(parent, []).append(row["name"])
    out = {}
    for layer in layers:
        if layer not in by_name:
            raise ValueError(f"no layer {layer!r}; layers: {', '.join(by_name)}")
        width = by_name[layer]["channels"]
        out[layer] = _norms(model, by_name, consumers, layer, width) if width else None
    return out


def _norms(model, by_name, consumers, layer, width):
    total = np.zeros(width)
    stack, seen = list(consumers.get(layer, [])), set()
    if not stack:
        return None
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        kind = by_name[name]["type"]
        if kind in PASS_THROUGH:
            if not consumers.get(name):
                return None  # reaches the model's output unweighted
            stack.extend(consumers[name])
            continue
        if kind not in _KERNEL_TYPES:
            return None
        from analysis.layers import find_layer
        item = find_layer(model, name)
        kernel = getattr(item, "kernel", None)
        if kernel is None:
            return None
        from keras import ops
        squared = _kernel_rows(ops.convert_to_numpy(kernel), kind, width)
        if squared is None:
            return None
        total += squared
    return np.sqrt(total)

"""The shared selection: a value, and the one definition of its ``dcc.Store`` shape.

Every view that changes the selection builds a new :class:`Selection` from
the store's current value and writes ``to_store()`` back, so the writers
cannot disagree about the shape::

    {"inputs": [int, ...],   # selected input indices, sorted, no repeats
     "focus": int | None,    # the one input the details view shows
     "layer": str | None,    # layer of the focused channel
     "channel": int | None,  # focused channel (meaningful in ``layer`` only)
     "source": str | None}   # which view made the selection ("scatter", "heatmap", ...)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable


def _int_or_none(value):
    return None if value is None else int(value)


@dataclass(frozen=True)
class Selection:
    inputs: tuple[int, ...] = ()
    focus: int | None = None
    layer: str | None = None
    channel: int | None = None
    source: str | None = None

    @classmethod
    def from_store(cls, data: dict | None) -> "Selection":
        """The value of the selection store (None or a partial dict is tolerated)."""
        data = data or {}
        return cls(inputs=tuple(sorted({int(i) for i in data.get("inputs") or ()})),
                   focus=_int_or_none(data.get("focus")), layer=data.get("layer"),
                   channel=_int_or_none(data.get("channel")), source=data.get("source"))

    def to_store(self) -> dict:
        return {"inputs": list(self.inputs), "focus": self.focus, "layer": self.layer,
                "channel": self.channel, "source": self.source}

    def with_inputs(self, indices: Iterable[int], source: str, focus: int | None = None) -> "Selection":
        """These inputs selected (focus: ``focus`` or the first of them); the channel is kept."""
        inputs = tuple(sorted({int(i) for i in indices}))
        if focus is None:
            focus = inputs[0] if inputs else None
        return replace(self, inputs=inputs, focus=_int_or_none(focus), source=source)

    def with_channel(self, layer: str, channel: int, source: str = "channels") -> "Selection":
        """Focus a channel of a layer; the inputs are kept."""
        return replace(self, layer=layer, channel=int(channel), source=source)

    def with_cell(self, index: int, layer: str, channel: int, source: str = "heatmap") -> "Selection":
        """Focus one input and one channel; the input becomes the selection when none is set."""
        inputs = self.inputs or (int(index),)
        return replace(self, inputs=inputs, focus=int(index), layer=layer, channel=int(channel),
                       source=source)

    def cleared(self) -> "Selection":
        return Selection()

    def focus_in(self, layer: str | None) -> tuple[int | None, int | None]:
        """(input, channel) the details view shows for ``layer``; None where unset.

        The focused input defaults to the first selected one; a channel picked
        in another layer does not count.
        """
        index = self.focus if self.focus is not None else (self.inputs[0] if self.inputs else None)
        channel = self.channel if self.layer == layer else None
        return index, channel


EMPTY = Selection().to_store()

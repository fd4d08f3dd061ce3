"""Names of the per-channel summaries (shared by extraction, views and pages).

``SUMMARIES`` are all that extraction can compute; ``DEFAULT_SUMMARIES`` the
ones an analysis computes unless asked for more.  The 90th percentile is
opt-in: it needs a partial sort of every channel's map and alone cost more
than the other four together (VGG16 on CPU: extraction at 0.62x the forward
pass with it, about 0.9x without; see benchmarks/README.md).
"""

SUMMARIES = ("mean", "max", "l2", "p90", "frac_pos")
# Each computed in the graph by one fast kernel per map (analysis/reductions.py).
CHEAP_SUMMARIES = ("mean", "max", "l2", "frac_pos")
OPTIONAL_SUMMARIES = ("p90",)
DEFAULT_SUMMARIES = CHEAP_SUMMARIES
SUMMARY_LABELS = {
    "mean": "mean",
    "max": "max",
    "l2": "L2 norm",
    "p90": "90th percentile",
    "frac_pos": "fraction > 0",
}


def analysis_summaries(p90: bool = False) -> tuple:
    """What an analysis computes: the defaults, plus the 90th percentile when opted in."""
    return DEFAULT_SUMMARIES + (OPTIONAL_SUMMARIES if p90 else ())


def summary_options(available) -> list:
    """Options of the summary dropdown: summaries the analysis did not compute are
    listed but disabled, saying how to get them."""
    available = set(available)
    options = []
    for name, label in SUMMARY_LABELS.items():
        option = {"label": label, "value": name}
        if name not in available:
            option = {"label": f"{label} (not computed: start the app with --p90)",
                      "value": name, "disabled": True}
        options.append(option)
    return options

"""Names of the per-channel summaries (shared by extraction, views and pages)."""

SUMMARIES = ("mean", "max", "l2", "p90", "frac_pos")
SUMMARY_LABELS = {
    "mean": "mean",
    "max": "max",
    "l2": "L2 norm",
    "p90": "90th percentile",
    "frac_pos": "fraction > 0",
}

"""Every component ID of the page, defined once.

IDs are plain deterministic strings so every Gunicorn worker builds the
identical page; import them, never retype them.
"""

# Stores (small per-user state; arrays stay on the server).
ANALYSIS = "analysis-store"          # page summary of the current analysis (key, n, layers, ...)
SELECTION = "selection-store"        # {"inputs": [...], "layer": str|None, "channel": int|None}

# Load / extraction panel.
MODEL_INPUT = "model-input"
DATA_INPUT = "data-input"
LAYER_SET = "layer-set"
PREPROCESS = "preprocess"
RUN = "run-button"
CANCEL = "cancel-button"
PROGRESS = "progress-bar"
PROGRESS_TEXT = "progress-text"
STATUS = "status-text"
ALERT = "alert"

# Scatterplot panel.
LAYER = "layer-dropdown"
SUMMARY = "summary-dropdown"
SCATTER = "scatter-graph"
SCATTER_NOTE = "scatter-note"

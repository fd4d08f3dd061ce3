"""Every component ID of the page, defined once.

IDs are plain deterministic strings so every Gunicorn worker builds the
identical page; import them, never retype them.
"""

# Stores (small per-user state; arrays stay on the server).
ANALYSIS = "analysis-store"          # page summary of the current analysis (key, n, layers, ...)
URL = "url"                          # dcc.Location: the query string mirrors the view (callbacks/url.py)
LINK_STATE = "link-state-store"      # the state decoded from the URL at load (applied once)
SELECTION = "selection-store"        # analysis.selection.Selection.to_store(): inputs, focus, layer, channel, source

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
FORM_NOTE = "form-note"              # "not yet analysed" when the form differs from what is shown
ALERT = "alert"
JOB = "job-store"                    # the analysis job this page started: {"nonce", "request", ...}
JOB_WATCH = "job-watch-interval"     # polls the job's record while it runs (killed-job watchdog)
RETRY = "retry-button"

# Scatterplot panel.
LAYER = "layer-dropdown"
SUMMARY = "summary-dropdown"
SCATTER = "scatter-graph"
SCATTER_NOTE = "scatter-note"
SCATTER_METHOD = "scatter-method"
SCATTER_COLOUR = "scatter-colour"
SCATTER_DRAWN = "scatter-drawn-store"  # [key, layer, summary, method shown, colour] of the figure drawn
PROJECTION_READY = "projection-ready-store"  # bumps when a slow projection lands in the cache
PROJECTION_STATUS = "projection-status"
PROJECTION_POLL = "projection-poll"          # ticks while a slow projection is pending

# Model graph panel.
GRAPH = "model-graph"
GRAPH_COLLAPSE = "graph-collapse"
GRAPH_EXPANDED = "graph-expanded"  # nested sub-models drawn with their layers (click one to add it)

# Model accuracy panel.
ACCURACY_TEXT = "accuracy-text"
ACCURACY_GRAPHS = "accuracy-graphs"
ACCURACY_CONFUSION = "accuracy-confusion"
ACCURACY_PER_CLASS = "accuracy-per-class"

# Jaccard panel.
JACCARD_RULE = "jaccard-rule"
JACCARD_VALUE = "jaccard-value"
JACCARD_MATRIX = "jaccard-matrix"
JACCARD_CLASSES = "jaccard-classes"
JACCARD_NOTE = "jaccard-note"
JACCARD_DRAWN = "jaccard-drawn-store"  # [key, layer, summary, rule, value, dimmed] of the matrix drawn
#: Stores saying what a figure on the page was drawn from (cleared when its panel fails).
DRAWN_STORES = (SCATTER_DRAWN, JACCARD_DRAWN)

# Heatmap panel.
HEATMAP_CRITERION = "heatmap-criterion"
HEATMAP_K = "heatmap-k"
HEATMAP = "heatmap-graph"
HEATMAP_NOTE = "heatmap-note"
HEATMAP_ZOOM = "heatmap-zoom-store"  # {"view": [key, layer, summary], "window": [lo, hi] | None}

# Details panel.
DETAILS_OVERLAY = "details-overlay"
DETAILS_DISTRIBUTION = "details-distribution"
DETAILS_TOP = "details-top"
DETAILS_NOTE = "details-note"

# Selection bar.
SELECTION_TEXT = "selection-text"
CLEAR_SELECTION = "clear-selection"

# Findings panel.
FINDINGS_TABS = "findings-tabs"
MISLABEL_TABLE = "mislabel-table"
MISLABEL_SELECT_TOP = "mislabel-select-top"
MISLABEL_EXPORT = "mislabel-export"
MISLABEL_DOWNLOAD = "mislabel-download"
MISLABEL_STABILITY_RUN = "mislabel-stability-button"
MISLABEL_STABILITY = "mislabel-stability"
MARKS_VERSION = "marks-version-store"
TREE = "class-tree"
TREE_GROUPS = "class-tree-groups"
SUBCLASS_CLASS = "subclass-class"
SUBCLASS_LIST = "subclass-list"
CHANNEL_TABLE = "channel-table"
BORDER_SCAN = "border-scan-button"
ABLATION_RUN = "ablation-button"
ABLATION_RESULT = "ablation-result"
REMOVAL_RUN = "removal-button"
REMOVAL_RESULT = "removal-result"
REMOVAL_PROGRESS = "removal-progress"
REMOVAL_CANCEL = "removal-cancel"
CHANNELS_EXPORT = "channels-export"
CHANNELS_DOWNLOAD = "channels-download"
SEPARABILITY = "separability-graph"

# Pattern-matching ID types (the dict IDs are {"type": TYPE, "index": ...}).
ROW_SELECT = "row-select"          # {"type", "index": input index}
ROW_MARK = "row-mark"              # {"type", "index": input index, "mark": "wrong"|"right"|"unsure"}
SUBCLASS_SELECT = "subclass-select"  # {"type", "index": sub-class number}
CHANNEL_OPEN = "channel-open"      # {"type", "index": channel}
PROJECTION_REQUEST = "projection-request-store"  # set only when a slow projection is missing
OVERLAY_REQUEST = "overlay-request-store"        # set only when an input and a channel are picked
PATTERN_TYPES = (ROW_SELECT, ROW_MARK, SUBCLASS_SELECT, CHANNEL_OPEN)

"""Layered layout of a model's data-flow graph, optionally collapsed into blocks.

Input is the plain layer description (``analysis.extraction.describe_layers``):
a list of dicts in topological order with ``name``, ``type``, ``output_shape``,
``channels``, ``inbound`` and ``extracted``; other keys are ignored.
"""

from __future__ import annotations

REQUIRED_KEYS = ("name", "type", "output_shape", "channels", "inbound", "extracted")
BLOCK_TYPE = "Block"


def _check_layers(layers):
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError("layers must be a non-empty list of layer dicts in topological order.")
    seen = set()
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise ValueError(f"layers[{i}] must be a dict; got {type(layer).__name__}.")
        missing = [key for key in REQUIRED_KEYS if key not in layer]
        if missing:
            raise ValueError(f"layers[{i}] lacks key(s) {', '.join(missing)}; each layer needs {', '.join(REQUIRED_KEYS)}.")
        name = layer["name"]
        if name in seen:
            raise ValueError(f"Layer name {name!r} appears twice; names must be unique.")
        for parent in layer["inbound"]:
            if parent not in seen:
                raise ValueError(f"Layer {name!r} has inbound {parent!r}, which is not an earlier layer; "
                                 "layers must be in topological order and inbound must name layers in the list.")
        seen.add(name)
    return layers


def _parents(layer):
    return list(dict.fromkeys(layer["inbound"]))  # Dedupe, keep order (e.g. Add(x, x)).


def _shape_text(shape):
    if not shape:
        return ""
    return "×".join("?" if dim is None else str(dim) for dim in shape)


def _label(node):
    shape = _shape_text(node["output_shape"])
    if len(node["members"]) > 1:
        detail = f"{len(node['members'])} layers"
    else:
        detail = node["type"]
    return f"{node['name']}\n{detail} {shape}".rstrip()


def _group_key(name, keys):
    """Shortest block key that is a proper underscore prefix of ``name`` (or name itself)."""
    tokens = name.split("_")
    for cut in range(1, len(tokens)):
        prefix = "_".join(tokens[:cut])
        if prefix in keys:
            return prefix
    return name


def collapse_blocks(layers):
    """Merge runs of consecutive layers that share a block name prefix.

    A *block key* is any name with its last ``_`` part removed
    (``conv2_block1_add`` gives ``conv2_block1``, ``block1_conv1`` gives
    ``block1``); a numeric last part (``dense_1``) is Keras's uniquifying
    suffix and gives no key.  Each layer joins the shortest block key that
    prefixes its name, so ``conv2_block1_1_conv`` ... ``conv2_block1_out``
    all join ``conv2_block1``.  Consecutive layers with the same key form one group; a
    group of one keeps the layer as it was.  Groups are contiguous runs of a
    topological order, so the collapsed graph is still acyclic.

    Parameters
    ----------
    layers : list of dict
        Layer descriptions in topological order (see module docstring).

    Returns
    -------
    list of dict
        Same keys, in topological order, plus ``members`` (names merged into
        the node).  A merged node has ``type`` "Block", the ``output_shape``
        and ``channels`` of its last member, ``extracted`` true if any member
        is, and ``inbound`` rewired to the groups of its members' parents.
        A key repeated in separate runs is suffixed ``#2``, ``#3``, ...
    """
    layers = _check_layers(layers)
    # A purely numeric last part is Keras's uniquifying suffix (dense, dense_1), not a block.
    keys = {head for head, _, tail in (layer["name"].rpartition("_") for layer in layers)
            if head and not tail.isdigit()}
    runs = []
    for layer in layers:
        key = _group_key(layer["name"], keys)
        if runs and runs[-1][0] == key:
            runs[-1][1].append(layer)
        else:
            runs.append((key, [layer]))
    names = {layer["name"] for layer in layers}
    used, group_of, groups = {}, {}, []
    for key, members in runs:
        member_names = [m["name"] for m in members]
        if len(members) == 1:
            name = member_names[0]
        else:
            used[key] = used.get(key, 0) + 1
            free = key not in names or key in member_names
            name = key if used[key] == 1 and free else f"{key}#{used[key]}"
        # Parents inside this run are not in group_of yet, so internal edges drop out.
        inbound = []
        for member in members:
            for parent in _parents(member):
                source = group_of.get(parent)
                if source is not None and source not in inbound:
                    inbound.append(source)
        for member_name in member_names:
            group_of[member_name] = name
        last = members[-1]
        groups.append({
            "name": name,
            "type": last["type"] if len(members) == 1 else BLOCK_TYPE,
            "output_shape": last["output_shape"],
            "channels": last["channels"],
            "inbound": inbound,
            "extracted": any(bool(m["extracted"]) for m in members),
            "members": member_names,
        })
    return groups


def _depths(nodes):
    depth = {}
    for node in nodes:
        parents = _parents(node)
        depth[node["name"]] = 1 + max(depth[p] for p in parents) if parents else 0
    return depth


def _lanes(nodes, depth):
    """Column of each node; parallel branches get different columns.

    Each parent hands its column to one *heir*: its deepest child (ties: the
    first listed).  So the long identity edge of a residual block stays
    straight and the branch moves one column right, and a merge (Add,
    Concatenate) returns to its leftmost parent's column.  A column is
    reserved from a node until its heir is placed.
    """
    children = {node["name"]: [] for node in nodes}
    for node in nodes:
        for parent in _parents(node):
            children[parent].append(node["name"])
    heir = {name: max(kids, key=lambda kid: (depth[kid], -kids.index(kid)))
            for name, kids in children.items() if kids}
    lane, reserved, occupied = {}, {}, set()  # reserved: lane -> node waiting for its heir
    for node in nodes:
        name = node["name"]
        parents = _parents(node)
        inherited = [lane[p] for p in parents if heir.get(p) == name]
        choice = min(inherited) if inherited else None
        if choice is None or (choice, depth[name]) in occupied:
            start = lane[parents[0]] + 1 if parents else 0
            choice = start
            while choice in reserved or (choice, depth[name]) in occupied:
                choice += 1
        for p in parents:
            if heir.get(p) == name and reserved.get(lane[p]) == p:
                del reserved[lane[p]]
        lane[name] = choice
        occupied.add((choice, depth[name]))
        if name in heir:
            reserved[choice] = name
    return lane


def layout(layers, collapse=False):
    """Positions of the model's layers for a top-to-bottom graph drawing.

    Parameters
    ----------
    layers : list of dict
        Layer descriptions in topological order (see module docstring).
    collapse : bool, default False
        Merge blocks first with :func:`collapse_blocks`.

    Returns
    -------
    dict
        ``nodes``: list of dicts with ``name``, ``type``, ``label`` (e.g.
        ``"block1_conv1\\nConv2D 224×224×64"``; replace ``\\n`` with ``<br>``
        for Plotly), ``x`` (int column), ``y`` (int longest-path depth from
        the inputs, growing downward: reverse the y axis when drawing),
        ``channels``, ``extracted``, ``members``.
        ``edges``: list of (src_name, dst_name).
        The result is deterministic and every edge goes to a larger ``y``.
    """
    if collapse:
        nodes = collapse_blocks(layers)
    else:
        nodes = [dict(layer, members=[layer["name"]]) for layer in _check_layers(layers)]
    depth = _depths(nodes)
    lane = _lanes(nodes, depth)
    out_nodes = [{
        "name": node["name"],
        "type": node["type"],
        "label": _label(node),
        "x": lane[node["name"]],
        "y": depth[node["name"]],
        "channels": node["channels"],
        "extracted": bool(node["extracted"]),
        "members": list(node["members"]),
    } for node in nodes]
    edges = [(parent, node["name"]) for node in nodes for parent in _parents(node)]
    return {"nodes": out_nodes, "edges": edges}

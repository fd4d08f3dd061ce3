"""Layered layout of a model's data-flow graph, optionally collapsed into blocks.

Input is the plain layer description (``analysis.extraction.describe_layers``):
a list of dicts in topological order with ``name``, ``type``, ``output_shape``,
``channels``, ``inbound`` and ``extracted``, and optionally ``groups`` (the
nested sub-models a layer is in, ``[qualified name, type]`` outermost first);
other keys are ignored.  A nested sub-model is drawn as one node unless it
is expanded, then its layers are drawn with their own data flow.
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
    if node.get("submodel"):
        detail = f"{node['type']} · {len(node['members'])} layers"
    elif len(node["members"]) > 1:
        detail = f"{len(node['members'])} layers"
    else:
        detail = node["type"]
    # Inside an expanded sub-model the path is in ``groups``: show the layer's own name.
    name = node["name"].rsplit("/", 1)[-1] if node.get("groups") else node["name"]
    return f"{name}\n{detail} {shape}".rstrip()


def _group_key(name, keys):
    """Shortest block key that is a proper underscore prefix of ``name`` (or name itself).

    Within a nested model (``outer/inner``) only the last part is split, so a
    block never spans sub-models.
    """
    path, slash, short = name.rpartition("/")
    tokens = short.split("_")
    for cut in range(1, len(tokens)):
        prefix = path + slash + "_".join(tokens[:cut])
        if prefix in keys:
            return prefix
    return name


def _block_keys(layers):
    # A purely numeric last part is Keras's uniquifying suffix (dense, dense_1), not a block.
    keys = set()
    for layer in layers:
        path, slash, short = layer["name"].rpartition("/")
        head, _, tail = short.rpartition("_")
        if head and not tail.isdigit():
            keys.add(path + slash + head)
    return keys


def _members(node):
    return list(node.get("members") or [node["name"]])


def collapse_groups(layers, expanded=()):
    """Draw each nested sub-model that is not in ``expanded`` as one node.

    Parameters
    ----------
    layers : list of dict
        Layer descriptions in topological order (see module docstring); a
        sub-model's layers are consecutive.
    expanded : iterable of str
        Qualified names of the sub-models drawn with their layers (an inner
        sub-model shows only when all sub-models around it are expanded).

    Returns
    -------
    list of dict
        The layer dicts outside collapsed sub-models, plus one node per
        collapsed sub-model: ``name`` (its qualified name), ``type`` (e.g.
        "Functional"), ``submodel`` True, ``members`` (its layers),
        ``output_shape``/``channels`` of its last layer, ``extracted`` if any
        member is, ``inbound`` rewired to the nodes outside it.  Every node
        has ``groups``: the expanded sub-models it is drawn inside.
    """
    layers = _check_layers(layers)
    expanded = set(expanded)
    node_of, nodes, index = {}, [], {}
    for layer in layers:
        groups = [list(group) for group in layer.get("groups") or []]
        closed = next((i for i, (name, _) in enumerate(groups) if name not in expanded), None)
        if closed is None:
            node = dict(layer, groups=[name for name, _ in groups], members=[layer["name"]])
            inbound = []
        else:
            name, kind = groups[closed]
            if name not in index:
                index[name] = len(nodes)
                nodes.append({"name": name, "type": kind, "submodel": True, "inbound": [],
                              "extracted": False, "members": [],
                              "groups": [group for group, _ in groups[:closed]]})
            node = nodes[index[name]]
            node["members"].append(layer["name"])
            node["extracted"] = bool(node["extracted"] or layer["extracted"])
            node["output_shape"], node["channels"] = layer["output_shape"], layer["channels"]
            inbound = node["inbound"]
        for parent in _parents(layer):
            source = node_of[parent]
            if source != node["name"] and source not in inbound:
                inbound.append(source)
        node["inbound"] = inbound
        node_of[layer["name"]] = node["name"]
        if closed is None:
            nodes.append(node)
    return nodes


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
    keys = _block_keys(layers)
    runs = []
    for layer in layers:
        key = layer["name"] if layer.get("submodel") else _group_key(layer["name"], keys)
        if runs and runs[-1][0] == key:
            runs[-1][1].append(layer)
        else:
            runs.append((key, [layer]))
    names = {layer["name"] for layer in layers}
    used, group_of, groups = {}, {}, []
    for key, members in runs:
        member_names = [m["name"] for m in members]
        inner_names = [name for m in members for name in _members(m)]
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
            "members": inner_names,
            "submodel": len(members) == 1 and bool(last.get("submodel")),
            "groups": list(last.get("groups") or []),
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


def layout(layers, collapse=False, expanded=()):
    """Positions of the model's layers for a top-to-bottom graph drawing.

    Parameters
    ----------
    layers : list of dict
        Layer descriptions in topological order (see module docstring).
    collapse : bool, default False
        Merge blocks first with :func:`collapse_blocks`.
    expanded : iterable of str
        Nested sub-models drawn with their layers; the others are one node
        each (see :func:`collapse_groups`).

    Returns
    -------
    dict
        ``nodes``: list of dicts with ``name``, ``type``, ``label`` (e.g.
        ``"block1_conv1\\nConv2D 224×224×64"``; replace ``\\n`` with ``<br>``
        for Plotly), ``x`` (int column), ``y`` (int longest-path depth from
        the inputs, growing downward: reverse the y axis when drawing),
        ``channels``, ``extracted``, ``members``, ``submodel`` (a collapsed
        nested model: expand it to see its layers), ``groups`` (the expanded
        sub-models the node is inside, outermost first).
        ``edges``: list of (src_name, dst_name).
        The result is deterministic and every edge goes to a larger ``y``.
    """
    nodes = collapse_groups(layers, expanded)
    if collapse:
        nodes = collapse_blocks(nodes)
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
        "submodel": bool(node.get("submodel")),
        "groups": list(node.get("groups") or []),
    } for node in nodes]
    edges = [(parent, node["name"]) for node in nodes for parent in _parents(node)]
    return {"nodes": out_nodes, "edges": edges}


def submodels(layers) -> list[dict]:
    """The nested sub-models of a layer description: ``name``, ``type``, ``layers`` (count),
    ``parent`` (enclosing sub-model or None), in order of first appearance."""
    found = {}
    for layer in layers:
        parent = None
        for name, kind in layer.get("groups") or []:
            if name not in found:
                found[name] = {"name": name, "type": kind, "layers": 0, "parent": parent}
            found[name]["layers"] += 1
            parent = name
    return list(found.values())

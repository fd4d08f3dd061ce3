"""Model graph layout and block collapsing on synthetic VGG16- and ResNet50-like layer lists."""

import pytest

from analysis import modelgraph


def layer(name, kind, shape, inbound, extracted=False):
    return {"name": name, "type": kind, "output_shape": list(shape), "channels": shape[-1] if shape else None,
            "inbound": list(inbound), "extracted": extracted}


def vgg16_layers():
    layers = [layer("input_layer", "InputLayer", (224, 224, 3), [])]
    size, prev = 224, "input_layer"
    for block, (convs, filters) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)], start=1):
        for i in range(1, convs + 1):
            name = f"block{block}_conv{i}"
            layers.append(layer(name, "Conv2D", (size, size, filters), [prev], extracted=True))
            prev = name
        size //= 2
        layers.append(layer(f"block{block}_pool", "MaxPooling2D", (size, size, filters), [prev]))
        prev = f"block{block}_pool"
    layers.append(layer("flatten", "Flatten", (7 * 7 * 512,), [prev]))
    layers.append(layer("fc1", "Dense", (4096,), ["flatten"], extracted=True))
    layers.append(layer("fc2", "Dense", (4096,), ["fc1"], extracted=True))
    layers.append(layer("predictions", "Dense", (1000,), ["fc2"], extracted=True))
    return layers


def resnet50_layers():
    """Keras ResNet50 naming and order (include_top=True), Add merges included."""
    layers = [layer("input_layer", "InputLayer", (224, 224, 3), [])]

    def add(name, kind, shape, inbound):
        layers.append(layer(name, kind, shape, inbound, extracted=kind == "Conv2D"))
        return name

    x = add("conv1_pad", "ZeroPadding2D", (230, 230, 3), ["input_layer"])
    x = add("conv1_conv", "Conv2D", (112, 112, 64), [x])
    x = add("conv1_bn", "BatchNormalization", (112, 112, 64), [x])
    x = add("conv1_relu", "Activation", (112, 112, 64), [x])
    x = add("pool1_pad", "ZeroPadding2D", (114, 114, 64), [x])
    x = add("pool1_pool", "MaxPooling2D", (56, 56, 64), [x])
    size = 56
    for stage, (blocks, filters) in enumerate([(3, 64), (4, 128), (6, 256), (3, 512)], start=2):
        for b in range(1, blocks + 1):
            p = f"conv{stage}_block{b}"
            if b == 1 and stage > 2:
                size //= 2
            small, big = (size, size, filters), (size, size, 4 * filters)
            y = add(f"{p}_1_conv", "Conv2D", small, [x])
            y = add(f"{p}_1_bn", "BatchNormalization", small, [y])
            y = add(f"{p}_1_relu", "Activation", small, [y])
            y = add(f"{p}_2_conv", "Conv2D", small, [y])
            y = add(f"{p}_2_bn", "BatchNormalization", small, [y])
            y = add(f"{p}_2_relu", "Activation", small, [y])
            if b == 1:  # Projection shortcut, listed the way Keras sorts it.
                s = add(f"{p}_0_conv", "Conv2D", big, [x])
                y = add(f"{p}_3_conv", "Conv2D", big, [y])
                s = add(f"{p}_0_bn", "BatchNormalization", big, [s])
            else:
                y = add(f"{p}_3_conv", "Conv2D", big, [y])
                s = x
            y = add(f"{p}_3_bn", "BatchNormalization", big, [y])
            y = add(f"{p}_add", "Add", big, [s, y])
            x = add(f"{p}_out", "Activation", big, [y])
    x = add("avg_pool", "GlobalAveragePooling2D", (2048,), [x])
    add("predictions", "Dense", (1000,), [x])
    return layers


def by_name(result):
    return {node["name"]: node for node in result["nodes"]}


@pytest.fixture(scope="module")
def resnet():
    return resnet50_layers()


def test_generator_mimics_resnet50_size(resnet):
    assert len(resnet) == 177  # 175 without the avg_pool/predictions head.
    assert sum(node["type"] == "Add" for node in resnet) == 16


@pytest.mark.parametrize("collapse", [False, True])
def test_every_edge_points_downward(resnet, collapse):
    for layers in (resnet, vgg16_layers()):
        result = modelgraph.layout(layers, collapse=collapse)
        nodes = by_name(result)
        assert result["edges"]
        for src, dst in result["edges"]:
            assert nodes[dst]["y"] > nodes[src]["y"], (src, dst)


def test_add_nodes_sit_below_both_parents_at_longest_path_depth(resnet):
    nodes = by_name(modelgraph.layout(resnet))
    for spec in resnet:
        if spec["type"] == "Add":
            parents = [nodes[p]["y"] for p in spec["inbound"]]
            assert len(parents) == 2 and nodes[spec["name"]]["y"] == max(parents) + 1


def test_parallel_branches_get_different_lanes(resnet):
    nodes = by_name(modelgraph.layout(resnet))
    # Projection shortcut beside the main branch.
    assert nodes["conv2_block1_0_conv"]["x"] != nodes["conv2_block1_1_conv"]["x"]
    assert nodes["conv2_block1_0_bn"]["x"] != nodes["conv2_block1_3_bn"]["x"]
    # Identity shortcut: the branch moves aside so the skip edge does not run through it.
    assert nodes["conv3_block2_1_conv"]["x"] != nodes["conv3_block1_out"]["x"]
    assert nodes["conv3_block2_add"]["x"] == nodes["conv3_block1_out"]["x"]


def test_no_two_nodes_share_a_position(resnet):
    nodes = modelgraph.layout(resnet)["nodes"]
    assert len({(n["x"], n["y"]) for n in nodes}) == len(nodes)


def test_chain_sits_in_one_lane_with_consecutive_depths():
    nodes = modelgraph.layout(vgg16_layers())["nodes"]
    assert {n["x"] for n in nodes} == {0}
    assert [n["y"] for n in nodes] == list(range(23))


def test_labels_show_name_type_and_shape():
    layers = vgg16_layers()
    layers[0]["output_shape"] = [None, None, 3]
    nodes = by_name(modelgraph.layout(layers))
    assert nodes["block1_conv1"]["label"] == "block1_conv1\nConv2D 224×224×64"
    assert nodes["input_layer"]["label"] == "input_layer\nInputLayer ?×?×3"
    assert nodes["fc1"]["channels"] == 4096 and nodes["fc1"]["extracted"] is True
    assert nodes["fc1"]["members"] == ["fc1"]


def test_layout_is_deterministic(resnet):
    assert modelgraph.layout(resnet) == modelgraph.layout(resnet50_layers())
    assert modelgraph.layout(resnet, collapse=True) == modelgraph.layout(resnet50_layers(), collapse=True)


def test_vgg16_collapses_to_its_five_blocks_and_the_head():
    collapsed = modelgraph.collapse_blocks(vgg16_layers())
    assert [g["name"] for g in collapsed] == [
        "input_layer", "block1", "block2", "block3", "block4", "block5", "flatten", "fc1", "fc2", "predictions"]
    groups = {g["name"]: g for g in collapsed}
    assert groups["block3"]["members"] == ["block3_conv1", "block3_conv2", "block3_conv3", "block3_pool"]
    assert groups["block3"]["inbound"] == ["block2"] and groups["block3"]["type"] == "Block"
    assert groups["block3"]["output_shape"] == [28, 28, 256] and groups["block3"]["extracted"] is True
    assert groups["flatten"]["extracted"] is False


def test_resnet50_collapses_to_blocks_with_rewired_edges(resnet):
    result = modelgraph.layout(resnet, collapse=True)
    nodes = by_name(result)
    assert len(nodes) < 40
    assert ["conv1", "pool1", "conv2_block1", "conv5_block3", "avg_pool"] <= list(nodes)
    assert len(nodes["conv2_block1"]["members"]) == 12 and "conv2_block1_add" in nodes["conv2_block1"]["members"]
    assert nodes["conv2_block1"]["label"] == "conv2_block1\n12 layers 56×56×256"
    assert ("conv2_block3", "conv3_block1") in result["edges"]
    assert all(src in nodes and dst in nodes and src != dst for src, dst in result["edges"])
    members = [m for node in result["nodes"] for m in node["members"]]
    assert sorted(members) == sorted(spec["name"] for spec in resnet)


def test_keras_numeric_suffixes_are_not_merged_into_blocks():
    layers = [layer("input_layer", "InputLayer", (8,), []), layer("dense", "Dense", (16,), ["input_layer"]),
              layer("dense_1", "Dense", (4,), ["dense"])]
    assert [g["name"] for g in modelgraph.collapse_blocks(layers)] == ["input_layer", "dense", "dense_1"]


def test_layers_out_of_topological_order_are_rejected():
    layers = vgg16_layers()
    layers[1], layers[2] = layers[2], layers[1]
    with pytest.raises(ValueError, match="topological order"):
        modelgraph.layout(layers)


def test_duplicate_names_and_missing_keys_are_rejected():
    layers = vgg16_layers()
    with pytest.raises(ValueError, match="appears twice"):
        modelgraph.layout(layers + [layers[-1]])
    del layers[3]["inbound"]
    with pytest.raises(ValueError, match="lacks key"):
        modelgraph.collapse_blocks(layers)


def nested_layers():
    """Input -> base (Functional: stem conv, block_1 convs, inner Sequential 'tail') -> gap -> dense."""
    base, tail = ["base", "Functional"], ["base/tail", "Sequential"]

    def inner(name, kind, shape, inbound, groups):
        return dict(layer(name, kind, shape, inbound, extracted="Conv" in kind), groups=groups)

    return [
        dict(layer("image", "InputLayer", (32, 32, 3), []), groups=[]),
        inner("base/Conv1", "Conv2D", (16, 16, 8), ["image"], [base]),
        inner("base/block_1_expand", "Conv2D", (16, 16, 16), ["base/Conv1"], [base]),
        inner("base/block_1_project", "Conv2D", (16, 16, 8), ["base/block_1_expand"], [base]),
        inner("base/block_1_add", "Add", (16, 16, 8), ["base/Conv1", "base/block_1_project"], [base]),
        inner("base/tail/conv", "Conv2D", (8, 8, 4), ["base/block_1_add"], [base, tail]),
        inner("base/tail/relu", "ReLU", (8, 8, 4), ["base/tail/conv"], [base, tail]),
        dict(layer("gap", "GlobalAveragePooling2D", (4,), ["base/tail/relu"]), groups=[]),
        dict(layer("dense", "Dense", (3,), ["gap"], extracted=True), groups=[]),
    ]


def check_edges_go_down(graph):
    y = {node["name"]: node["y"] for node in graph["nodes"]}
    assert all(y[src] < y[dst] for src, dst in graph["edges"])


def test_sub_model_collapsed_to_one_node_by_default():
    graph = modelgraph.layout(nested_layers())
    nodes = {node["name"]: node for node in graph["nodes"]}
    assert list(nodes) == ["image", "base", "gap", "dense"]
    assert nodes["base"]["submodel"] and nodes["base"]["type"] == "Functional"
    assert nodes["base"]["members"][0] == "base/Conv1" and len(nodes["base"]["members"]) == 6
    assert nodes["base"]["extracted"] and nodes["base"]["channels"] == 4
    assert nodes["base"]["label"].startswith("base\nFunctional · 6 layers")
    assert set(graph["edges"]) == {("image", "base"), ("base", "gap"), ("gap", "dense")}
    check_edges_go_down(graph)


def test_expanded_sub_model_shows_its_own_data_flow():
    graph = modelgraph.layout(nested_layers(), expanded=["base"])
    nodes = {node["name"]: node for node in graph["nodes"]}
    assert "base" not in nodes and nodes["base/tail"]["submodel"]  # the inner Sequential stays closed
    assert nodes["base/block_1_add"]["groups"] == ["base"]
    assert nodes["base/block_1_add"]["label"].startswith("block_1_add\nAdd")
    assert ("base/Conv1", "base/block_1_add") in graph["edges"]  # the residual edge inside
    assert ("base/block_1_add", "base/tail") in graph["edges"] and ("base/tail", "gap") in graph["edges"]
    check_edges_go_down(graph)
    everything = modelgraph.layout(nested_layers(), expanded=["base", "base/tail"])
    names = [node["name"] for node in everything["nodes"]]
    assert "base/tail/relu" in names and ("base/tail/relu", "gap") in everything["edges"]
    check_edges_go_down(everything)


def test_blocks_inside_an_expanded_sub_model_do_not_leave_it():
    graph = modelgraph.layout(nested_layers(), collapse=True, expanded=["base", "base/tail"])
    nodes = {node["name"]: node for node in graph["nodes"]}
    assert nodes["base/block_1"]["members"] == ["base/block_1_expand", "base/block_1_project",
                                               "base/block_1_add"]
    assert nodes["base/block_1"]["groups"] == ["base"]
    assert "base/Conv1" in nodes and "gap" in nodes
    check_edges_go_down(graph)
    assert modelgraph.submodels(nested_layers()) == [
        {"name": "base", "type": "Functional", "layers": 6, "parent": None},
        {"name": "base/tail", "type": "Sequential", "layers": 2, "parent": "base"}]


def test_a_click_on_a_collapsed_sub_model_expands_it():
    from callbacks.graph import expand_from_click, layer_from_click
    options = [{"label": "base", "value": "base"}, {"label": "tail", "value": "base/tail"}]
    click = {"points": [{"customdata": "base"}]}
    assert expand_from_click(click, options, []) == ["base"]
    assert expand_from_click(click, options, ["base"]) is None  # already open
    assert expand_from_click({"points": [{"customdata": "gap"}]}, options, []) is None  # a layer
    assert layer_from_click(click, {"layers": ["base/Conv1", "dense"]}) is None  # no layer opens
    inner = {"points": [{"customdata": "base/Conv1"}]}
    assert layer_from_click(inner, {"layers": ["base/Conv1", "dense"]}) == "base/Conv1"

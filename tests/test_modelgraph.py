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

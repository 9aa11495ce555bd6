"""Every node's widget order, written out as data (tests/data/widget_order.json): saved workflows store
widget values by position, so an order that changes breaks every workflow saved before. A new input
of ours is appended (nodes/detailer_inputs.py OURS), and this data with it, deliberately."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from animatediff_detailer.core.enhance import DetailSettings
from animatediff_detailer.core.options import SamplingOptions
from animatediff_detailer.nodes import NODE_ENTRIES
from animatediff_detailer.nodes.detailer import bind_inputs
from animatediff_detailer.nodes.detailer_inputs import ALL_INPUTS, OURS, core_options
from animatediff_detailer.nodes.registry import ID_PREFIX

ORDER = json.loads((Path(__file__).resolve().parent / "data" / "widget_order.json").read_text())


def registered() -> list[tuple[str, type]]:
    nodes = []
    for entry in NODE_ENTRIES:
        nodes.append((ID_PREFIX + entry.short_name, entry.node_class))
        if entry.impact_id:
            nodes.append((entry.impact_id, entry.impact_class or entry.node_class))
    return nodes


@pytest.mark.parametrize("node_id, node_class", registered(), ids=[node_id for node_id, _ in registered()])
def test_declared_inputs_are_in_the_recorded_order(node_id, node_class):
    declared = node_class.INPUT_TYPES()
    assert node_id in ORDER, f"{node_id} has no recorded widget order: add it to tests/data/widget_order.json"
    assert list(declared["required"]) == ORDER[node_id]["required"]
    assert list(declared.get("optional", {})) == ORDER[node_id]["optional"]


def test_every_node_is_recorded():
    assert set(ORDER) == {node_id for node_id, _ in registered()}


def test_our_inputs_come_after_impacts_on_every_detailer():
    ours = [item.name for item in OURS]
    for node_id, order in ORDER.items():
        if "basic_pipe" not in order["required"]:
            continue
        optional = order["optional"]
        first_ours = next((i for i, name in enumerate(optional) if name in ours), len(optional))
        assert all(name in ours for name in optional[first_ours:]), node_id
        assert [name for name in optional if name in ours] == [name for name in ours if name in optional], node_id


def test_every_input_reaches_a_core_option_of_its_name_or_the_node():
    core = {f.name for f in fields(SamplingOptions)} | {f.name for f in fields(DetailSettings)}
    for item in ALL_INPUTS:
        target = item.name if item.core is None else item.core
        assert target == "" or target in core, f"input '{item.name}' reaches no core option"


@pytest.mark.parametrize("node_id, node_class", [(i, c) for i, c in registered() if "Detailer" in c.__name__],
                         ids=lambda value: value if isinstance(value, str) else "")
def test_default_inputs_make_the_core_options(node_id, node_class):
    inputs = bind_inputs(node_class, (), {})
    sampling, settings = core_options(inputs)
    assert sampling.steps == 20 and settings.seed == 0
    assert sampling.sampling_precision == ("fp32" if node_class.IMPACT else "auto")
    assert settings.crop_mode == ("union" if node_class.IMPACT else "tracked")

"""Hook implementations of dyncore-dysts: names come from ``catalogue.json``, so listing imports neither dysts nor torch."""

import json
from pathlib import Path

import dyncore

CATALOGUE = Path(__file__).with_name("catalogue.json")


@dyncore.hookimpl
def register_systems(registry):
    for name, entry in json.loads(CATALOGUE.read_text())["systems"].items():
        registry.add(f"dysts.{name}", f"dyncore_dysts.systems:{name}", summary=entry["summary"])

"""The dyncore conformance kit, run by the plugin on itself: what every plugin's CI should do."""

from dyncore_rossler.system import Rossler

from dyncore.testing import parametrize_with_checks


@parametrize_with_checks([Rossler(), Rossler(c=4.0)])
def test_rossler_conforms(component, check):
    check(component)

"""The ``--fail-on`` choices, apart from the policy engine.

``leaktrace analyze`` and ``report`` declare the option at start-up; keeping
the enum here lets them do so without importing the engine and its rules,
which only a run that judges needs.
"""

from enum import StrEnum


class FailOn(StrEnum):
    """What trips the CI gate."""

    violation = "violation"  # any verdict at violation level
    undisclosed = "undisclosed"  # an undisclosed collection or sharing (violation level)
    any = "any"  # any verdict, warnings included

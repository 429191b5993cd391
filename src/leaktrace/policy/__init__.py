"""Declared vs observed: the double-list checks and their verdicts.

``engine.evaluate`` judges one session's findings (and timeline events)
against the app's declaration with the named rules in ``rules``; ``lists``
builds the observed double lists; ``draft`` writes a declaration from what
was observed, for an app team to correct.
"""

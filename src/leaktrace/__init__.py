"""leaktrace: which personal data an app sends, to whom, and whether it said so."""

__version__ = "0.1.0"

"""The report people read: a self-contained HTML page, the observed double lists as
CSV and YAML, and the machine-readable verdict JSON, all written by ``files``.
"""

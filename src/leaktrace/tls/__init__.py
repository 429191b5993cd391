"""TLS decryption from key logs: key log parsing, the record layer and the key schedules.

Everything here is sans-IO: bytes and secrets in, plaintext and diagnostics out,
so the capture reader and any other packet source share it.
"""

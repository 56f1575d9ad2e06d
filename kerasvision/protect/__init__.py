"""Protecting exported models: integrity, signatures, encryption at rest.

- ``manifest``: ``export/manifest.json`` (every file's SHA-256) and checks against it.
- ``signing``: Ed25519 signatures of the manifest (``kv keygen``, ``kv export --sign``).
- ``encryption``: AES-256-GCM ``.enc`` artifacts (``kv export --encrypt``).
- ``loading``: what ``load_predictor`` does first: check the hash, decrypt in memory.
- ``exporting``: what ``export_model`` does last: encrypt, write and sign the manifest.

See docs/protect.md.
"""

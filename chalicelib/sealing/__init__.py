"""Secret values sealed at rest with envelope encryption (see envelope.py, keyrings.py)."""

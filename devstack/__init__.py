"""The local stack: NOT deployed. Run it with ``python -m devstack run``."""

"""Operations: the saga-timeout sweep (``service``, scheduled by ``api``).
Dead letters, the alert subscriber and cleanup come next (docs/ARCHITECTURE.md)."""

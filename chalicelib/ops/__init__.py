"""Operations: the room for dead letters, alerts, sweeps and cleanup (its
``api.py`` blueprint is registered by app.py once it has handlers)."""

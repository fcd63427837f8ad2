"""The ledger app's own package: its name is also eventshop's, so the stack
must import this one (tests/e2e/test_other_app.py)."""

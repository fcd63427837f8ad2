"""The browser tier: the operator console in a real headless Chromium."""

"""The operator console: one page (``GET /console``) and its assets, plain
HTML, CSS and JavaScript modules served from ``static/``, no build step."""

"""eventshop's own commands (``python -m tools COMMAND``): deploy, tokens,
order replay, the IAM model. Not deployed; free to import the app
(``chalicelib``) and the local stack (``devstack``), which imports neither."""

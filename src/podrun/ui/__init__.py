"""The web UI that `podrun serve` serves on its own TLS port under `/ui/` (docs/lifecycle.md, "Web UI").

`sessions` holds the one-time login codes and the browser sessions they are exchanged for; `routes` builds the
UI's application (the API itself, plus the pages, the login and the rendered timeline); `static/` holds the pages,
plain HTML, CSS and JavaScript modules with no build step.
"""

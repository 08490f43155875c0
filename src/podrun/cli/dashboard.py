"""`podrun dashboard [--open]`: a one-time login URL of `podrun serve`'s web UI.

The command asks the server of the kubeconfig's `podrun` context (`podrun.cli.server_client`, as `podrun timeline`
does) for a login code with the admin token; the code travels in the URL's fragment, which the browser keeps to
itself, and the page exchanges it once for a session cookie. The token never leaves this process. `--open` hands
the browser a private page that redirects there (`dashboard_redirect`), so the code is not on its command line.
"""

from __future__ import annotations

import argparse
import sys
import webbrowser

from podrun.api.kubeconfig import default_kubeconfig_path
from podrun.cli.dashboard_redirect import write_redirect
from podrun.cli.server_client import ServerError, request_json
from podrun.ui.sessions import LOGIN_CODES_PATH


def dashboard_command(args: argparse.Namespace) -> int:
    """Print the login URL (good once, for two minutes), or open it in a browser with `--open`."""
    try:
        answer = request_json(args.kubeconfig or default_kubeconfig_path(), LOGIN_CODES_PATH, method="POST")
    except ServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    url = str(answer.get("url", ""))
    if args.open:
        page = write_redirect(url)
        if webbrowser.open(page.as_uri()):
            print(f"podrun dashboard: opened the web UI in a browser (through {page})", file=sys.stderr)
            return 0
    print(url)
    return 0

"""What a fresh interpreter has imported after running some code: for tests that keep heavy imports lazy."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Sequence


def modules_loaded_after(code: str, heavy: Sequence[str]) -> list[str]:
    """The `heavy` modules (or their submodules) loaded once `code` has run in a fresh interpreter."""
    probe = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        heavy = {tuple(heavy)!r}
        print(json.dumps(sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))))
        """
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout.splitlines()[-1]))

"""Developer tools (``tools/``) are not installed: find them in the checkout we run from.

``pip install .`` installs the runtime packages only. ``spacegrid bench``, ``spacegrid
local`` and ``spacegrid grid member add|remove`` need ``tools/`` and ``loadtests/``, which
sit beside the packages in a checkout (an editable install runs from there).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType


class ToolsUnavailable(SystemExit):
    """Exit with one clear line when a tool command runs outside a checkout."""


def checkout_root() -> Path | None:
    """The repository this package was imported from, or None for an installed copy."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "tools" / "__init__.py").is_file() else None


def import_tool(module: str, command: str) -> ModuleType:
    """Import ``module`` (under ``tools``) from the checkout, or exit saying why not."""
    root = checkout_root()
    if root is None:
        raise ToolsUnavailable(
            f"`{command}` is a developer tool: run it from a checkout of the spacegrid repository "
            "(`pip install -e .` there); `pip install .` installs the runtime packages only"
        )
    if str(root) not in sys.path:
        sys.path.append(str(root))
    return importlib.import_module(module)

"""Finding and starting Debian's Chromium, headless, from Python (Playwright, no bundled browser)."""
from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

# Flags for a root user in a container with no display and no reason to phone home.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

INSTALL_HINT = "install it with: sudo apt-get install -y chromium (or set CHROMIUM=/path/to/chromium)"


class BrowserUnavailable(RuntimeError):
    """Chromium or the Playwright package is missing: the check cannot run at all."""


def find_chromium() -> Path:
    """The Chromium binary: ``$CHROMIUM`` if set, else /usr/bin/chromium or one on PATH."""
    configured = os.environ.get("CHROMIUM")
    candidates = [configured] if configured else ["/usr/bin/chromium", shutil.which("chromium"),
                                                  shutil.which("chromium-browser")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    looked = configured or "/usr/bin/chromium and PATH"
    raise BrowserUnavailable(f"chromium not found ({looked}); {INSTALL_HINT}")


def require_playwright() -> None:
    """Raise :class:`BrowserUnavailable` with the fix when the playwright package is missing."""
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError as exc:
        raise BrowserUnavailable(
            f"the Python package playwright is missing ({exc}); run `make env` "
            "(it installs requirements-lock.txt; no browser download is needed)") from exc

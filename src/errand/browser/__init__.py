"""The browser toolset: Chromium driven by Playwright, confined to the task's sandbox.

Public surface: :class:`BrowserToolset` (the tools a task gets when it may browse),
:func:`chromium_path` and :class:`BrowserUnavailable` (whether this machine can run it),
:data:`MEMORY_MB` (the default memory cap of a task's browser), :func:`ensure_compile_cache`
(makes the driver's Node.js compile cache ahead of the first browser start).
"""

from errand.browser.compile_cache import ensure_compile_cache
from errand.browser.session import MEMORY_MB, BrowserUnavailable, chromium_path
from errand.browser.toolset import BrowserToolset

__all__ = [
    "MEMORY_MB",
    "BrowserToolset",
    "BrowserUnavailable",
    "chromium_path",
    "ensure_compile_cache",
]

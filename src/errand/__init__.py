"""Errand: a self-hosted personal AI agent whose every tool call runs in a sandbox."""

__version__ = "0.1.0"

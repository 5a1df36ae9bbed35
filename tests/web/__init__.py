"""The phone app in a real Chromium (a package, so its fixtures end with its tests)."""

"""Test helpers shared by the Python suites (not part of any image)."""

"""Test doubles: stand-ins for our actors, not installed with the package."""

"""Compliance rules over a submission's code, logs and claims.

Imports only ``harness.core`` (never the runner or torch), so it runs in a
light CI job or a PR bot.
"""

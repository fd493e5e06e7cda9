"""Torch-free core library shared by reproduce, verify, record and leaderboard.

Nothing in this package imports torch, the runner, the CLI or ``verifier``;
a test imports it with torch made unimportable.
"""

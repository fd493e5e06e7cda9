"""Sub-commands of `harness`: one module per command, each exposing `command`."""

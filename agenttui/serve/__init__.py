"""`agenttui serve`: a Redis stream -> store bridge with a live WebSocket feed.

Needs the `serve` extra (`pip install 'agenttui[serve]'`: redis and websockets); the rest of
agenttui does not import this package, so those stay optional.
"""
from __future__ import annotations

from .command import add_serve_command, config_from_args, main
from .config import ConfigError, ServeConfig

__all__ = ["ConfigError", "ServeConfig", "add_serve_command", "config_from_args", "main"]

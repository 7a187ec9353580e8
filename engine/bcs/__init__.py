"""BITS Compact Server engine: file host, BITS client and named-pipe JSON-RPC management."""

__version__ = "0.1.0"

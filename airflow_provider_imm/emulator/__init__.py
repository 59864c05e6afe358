"""A local emulator of IMM + MNS + OSS that the official SDKs talk to unchanged.

Start it in-process with :class:`~.server.ImmEmulator` (context manager, sync or async), or as a command,
``imm-emulator --port 8765 --root ./oss``.
"""

from airflow_provider_imm.emulator.server import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_PROJECT,
    ImmEmulator,
)

__all__ = ["DEFAULT_ACCESS_KEY_ID", "DEFAULT_ACCESS_KEY_SECRET", "DEFAULT_PROJECT", "ImmEmulator"]

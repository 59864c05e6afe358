"""``Imm`` and the channel's names, where ``test_bad_input.py`` imports them from; new tests import
them from ``tests.emulated_imm`` (the ``imm`` fixture itself is in ``tests/conftest.py``)."""

from tests.emulated_imm import QUEUE, TOPIC, Imm

__all__ = ["QUEUE", "TOPIC", "Imm"]

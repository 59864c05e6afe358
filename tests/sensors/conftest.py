"""The operator tests' emulator, connections and Airflow (one metadata DB for the session)."""

from tests.operators.conftest import airflow_home, imm

__all__ = ["airflow_home", "imm"]

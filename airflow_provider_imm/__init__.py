"""Apache Airflow provider for Alibaba Cloud Intelligent Media Management (IMM)."""

__version__ = "0.2.0"

"""PySpark jobs of the taxi data platform: schema grouping, loads and data validation."""

__version__ = "0.1.0"

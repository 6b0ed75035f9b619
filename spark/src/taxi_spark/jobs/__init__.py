"""Command-line jobs: ``python -m taxi_spark.jobs.<name> --help``."""

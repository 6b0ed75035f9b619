"""Helpers behind the DAG files: the pipeline-env reader, run-conf checks, the dataset
registry, the job table, the template renderer and the two runtimes (kubernetes, local)."""

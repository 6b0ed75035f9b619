"""Helpers shared by the pipeline's Python jobs (``spark/``, ``dbt/``, ``ml/``).

* :mod:`taxi_common.jsonlog`: JSON-lines logging on stderr, ``log.info("event", key=value)``.
* :mod:`taxi_common.envconfig`: reading ``pipeline-env`` keys with errors that name the key.
* :mod:`taxi_common.uris`: parsing storage URIs and publishing one file atomically.
* :mod:`taxi_common.jobcli`: the jobs' command-line contract (JSON summary, exit codes).
* :mod:`taxi_common.warmworker`: the local runtime's warm worker (imports a component's
  libraries once, runs each job in a fork of itself; ``npm start`` only, never in an image).

Standard library only and Python 3.10+ (the Spark image runs Python 3.10), so every image and
virtual environment can use it without installing anything: it is found on ``PYTHONPATH``
(``../libs/python`` locally) or copied next to the component's package in its image.
"""

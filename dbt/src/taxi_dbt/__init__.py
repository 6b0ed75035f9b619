"""Run and publish the taxi platform's dbt project (the scripts baked into the dbt image).

* :mod:`taxi_dbt.runner`  ``python -m taxi_dbt.runner build [--select …] [--vars JSON]``
* :mod:`taxi_dbt.publish` ``python -m taxi_dbt.publish`` (single-file dbt docs → ``DOCS_URI``)
"""

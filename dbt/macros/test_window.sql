{#-
    Data tests of a monthly run check the dates that run loaded, not the whole history.

    The tests of the trip views (staging, intermediate: see dbt_project.yml) have
    `where: "__run_dates__"`. dbt wraps a tested relation with a `where` in
    `(select * from <relation> where <where>) dbt_subquery`; this project's get_where_subquery
    replaces the placeholder with the run's pickup dates first (dbt's documented way to give the
    `where` config logic of its own: yml configs cannot call project macros):

      pickup_date_from / pickup_date_to   that inclusive range;
      source_month ("YYYY-MM", or TAXI_SOURCE_MONTH from the runner)
                                          the days of that month: a monthly file's load writes
                                          no other pickup dates (spark: outside_file_month rows
                                          are quarantined);
      (none)                              true: every date (full refresh, CI, a manual build).

    Without it every monthly run re-ran these tests over all months ever loaded: the views
    re-compute their deduplication for each test, so the cost grew with the history, and on
    BigQuery every test scanned every raw partition. With literal dates, BigQuery prunes the raw
    table's partitions (stg_tlc__trips partitions its window by pickup_date, so the filter
    reaches the table) and DuckDB reads one month. `unique` stays exact: trip_id hashes the pickup
    time, so a duplicate of a trip has the same pickup_date. Rendered only at execution: a new
    month does not make dbt parse the project again.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- if '__run_dates__' in where -%}
            {%- set where = where | replace('__run_dates__', taxi.run_dates()) -%}
        {%- endif -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{% macro run_dates(column='pickup_date') -%}
    {%- if not execute -%}
        true
    {%- else -%}
        {%- set w = taxi.window_vars() -%}
        {%- set month = w.month -%}
        {%- if w.date_from -%}
            {{ taxi.date_range(column, w) }}
        {%- elif month -%}
            {#- month_literal rejects anything but YYYY-MM(-01) with a clear message -#}
            {%- set _ = taxi.month_literal(month) -%}
            {%- set month = month | string -%}
            {%- set y = month[:4] | int -%}
            {%- set m = month[5:7] | int -%}
            {%- set next_month = '%04d-%02d-01' % (y + m // 12, m % 12 + 1) -%}
            {{ column }} >= {{ taxi.date_literal(month[:7] ~ '-01', 'source_month') }}
                and {{ column }} < {{ taxi.date_literal(next_month, 'source_month') }}
        {%- else -%}
            true
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

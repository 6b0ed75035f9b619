{#-
    The pickup dates an incremental run of a pickup_date-partitioned model rebuilds, as a SQL
    predicate on `column`. A full build (first run, --full-refresh) has no filter.

    Incremental runs pick the window from --vars, in this order:
      pickup_date_from / pickup_date_to  explicit inclusive range (to defaults to from);
      source_month ("YYYY-MM")           the dates present in raw for that monthly file, i.e.
                                         exactly the partitions the Spark load overwrote
                                         (`taxi_dbt.runner` passes it to dbt as the
                                         environment variable TAXI_SOURCE_MONTH, which this
                                         macro reads too: changing --vars would cost dbt a
                                         full re-parse of the project per month);
      (none)                             from `lookback_days` before the newest date already
                                         in the model, so late partitions are picked up.
    The dates are looked up at run time and rendered as literals, so BigQuery prunes the raw
    partitions it scans and insert_overwrite replaces exactly those partitions (DuckDB:
    delete+insert on pickup_date). Re-running the same window gives the same table.
-#}
{% macro incremental_window(column='pickup_date') -%}
    {%- if not is_incremental() or not execute -%}
        true
    {%- else -%}
        {%- set w = taxi.window_vars() -%}
        {%- set month = w.month -%}
        {%- if w.date_from -%}
            {{ taxi.date_range(column, w) }}
        {%- elif month -%}
            {%- set month_start = taxi.month_literal(month) -%}
            {%- set dates = run_query(
                "select distinct pickup_date from " ~ source('tlc', 'trips')
                ~ " where source_month = " ~ month_start ~ " order by 1"
            ).columns[0].values() -%}
            {%- if dates | length == 0 -%}
                {{ log('source_month=' ~ month ~ ': no raw rows for that month; nothing to rebuild', info=true) }}
                false
            {%- else -%}
                {{ column }} in (
                {%- for d in dates -%}
                    {{ taxi.date_literal(d | string, 'source_month') }}{{ ',' if not loop.last }}
                {%- endfor -%})
            {%- endif -%}
        {%- else -%}
            {%- set newest = run_query("select max(pickup_date) from " ~ this).columns[0].values()[0] -%}
            {%- if newest is none -%}
                true
            {%- else -%}
                {{ column }} >= {{ dbt.dateadd('day', -(var('lookback_days') | int),
                    taxi.date_literal(newest | string, 'lookback_days')) }}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- The window's vars: pickup_date_from / _to, and source_month (also as TAXI_SOURCE_MONTH,
    which the runner sets: a new month keeps dbt's partial parse). Shared with test_window.sql. -#}
{% macro window_vars() -%}
    {%- do return({
        'date_from': var('pickup_date_from', none),
        'date_to': var('pickup_date_to', none),
        'month': var('source_month', none) or env_var('TAXI_SOURCE_MONTH', '') or none,
    }) -%}
{%- endmacro %}

{#- `column` within the inclusive range pickup_date_from .. pickup_date_to (default: from). -#}
{% macro date_range(column, w) -%}
    {{ column }} between {{ taxi.date_literal(w.date_from, 'pickup_date_from') }}
        and {{ taxi.date_literal(w.date_to or w.date_from, 'pickup_date_to') }}
{%- endmacro %}

{% macro date_literal(value, var_name) -%}
    {%- set text = (value | string)[:10] -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ var_name ~ "=" ~ (value | string) ~ " is not a date; use YYYY-MM-DD, e.g. "
            ~ "--vars '{\"" ~ var_name ~ "\": \"2024-01-31\"}'") }}
    {%- endif -%}
    cast('{{ text }}' as date)
{%- endmacro %}

{% macro month_literal(value) -%}
    {%- set text = (value | string) -%}
    {%- if not modules.re.match('^[0-9]{4}-(0[1-9]|1[0-2])(-01)?$', text) -%}
        {{ exceptions.raise_compiler_error(
            "var source_month=" ~ text ~ " is not a month; use YYYY-MM, e.g. "
            ~ "--vars '{\"source_month\": \"2024-01\"}'") }}
    {%- endif -%}
    cast('{{ text[:7] }}-01' as date)
{%- endmacro %}

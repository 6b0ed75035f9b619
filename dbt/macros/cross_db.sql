{#- Small cross-database helpers (DuckDB locally, BigQuery in the cloud) that dbt's own
    cross-db macros do not cover. Each has a default (DuckDB/ANSI) and a BigQuery version. -#}

{#- Timestamp without time zone as 'YYYY-MM-DD HH:MM:SS' text: the same string on both
    engines, so hashes built from it (trip_id) are identical in DuckDB and BigQuery. -#}
{% macro timestamp_key(column) -%}
    {{ return(adapter.dispatch('timestamp_key', 'taxi')(column)) }}
{%- endmacro %}

{% macro default__timestamp_key(column) -%}
    strftime({{ column }}, '%Y-%m-%d %H:%M:%S')
{%- endmacro %}

{% macro bigquery__timestamp_key(column) -%}
    format_datetime('%Y-%m-%d %H:%M:%S', cast({{ column }} as datetime))
{%- endmacro %}

{#- A double as an integer number of hundredths (amounts in cents, miles in 1/100 miles), so
    the hash does not depend on how an engine prints floating-point numbers. -#}
{% macro hundredths_key(column) -%}
    cast(round({{ column }} * 100) as {{ dbt.type_bigint() }})
{%- endmacro %}

{#- ISO day of week: 1 = Monday .. 7 = Sunday. -#}
{% macro iso_day_of_week(column) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'taxi')(column)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(column) -%}
    cast(isodow({{ column }}) as {{ dbt.type_int() }})
{%- endmacro %}

{% macro bigquery__iso_day_of_week(column) -%}
    {#- BigQuery's DAYOFWEEK is 1 = Sunday .. 7 = Saturday. -#}
    cast(mod(extract(dayofweek from {{ column }}) + 5, 7) + 1 as {{ dbt.type_int() }})
{%- endmacro %}

{#- First day of the month of a date or timestamp, as a date. -#}
{% macro month_start(column) -%}
    cast({{ dbt.date_trunc('month', 'cast(' ~ column ~ ' as date)') }} as date)
{%- endmacro %}

{#- Deterministic hex digest of the given SQL expressions (nulls hashed as empty strings). -#}
{% macro hash_key(expressions) -%}
    {%- set parts = [] -%}
    {%- for e in expressions -%}
        {%- do parts.append("coalesce(cast(" ~ e ~ " as " ~ dbt.type_string() ~ "), '')") -%}
        {%- if not loop.last %}{% do parts.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}

{#- 64-bit floating point (dbt.type_float() is the 32-bit FLOAT on DuckDB). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'taxi')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double
{%- endmacro %}

{% macro bigquery__type_double() -%}
    float64
{%- endmacro %}

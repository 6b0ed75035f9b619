{#- Fails for every non-null value of `column_name` outside [min_value, max_value]. Written here
    because hub packages (dbt_utils, dbt_expectations) are not installed in offline runs. -#}
{% test value_between(model, column_name, min_value, max_value) %}
select {{ column_name }} as offending_value
from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}

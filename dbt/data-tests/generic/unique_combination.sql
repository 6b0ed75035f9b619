{#- Fails for every combination of `columns` that occurs more than once (a composite primary
    key test that needs no hub package). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

-- Month-over-month BI report per pickup borough: trips, revenue, average fare and tip rate,
-- each with the previous month's value and the change. Built from every deduplicated trip
-- (not only the ML-valid ones): refunds and corrections are negative amounts and net out.
-- Grain: one row per pickup_month and borough, for every month present in the data and every
-- borough (a borough without trips in a month gets a row with zero trips).

with trips as (

    select * from {{ ref('int_trips__enriched') }}

),

monthly as (

    select
        pickup_month,
        pickup_borough as borough,
        count(*) as trips,
        sum(total_amount) as revenue,
        avg(fare_amount) as avg_fare,
        -- Tips are only recorded for card payments: the rate is card tips over card fares.
        sum(case when payment_type_id = 1 and fare_amount > 0 then tip_amount end) as card_tips,
        sum(case when payment_type_id = 1 and fare_amount > 0 then fare_amount end) as card_fares
    from trips
    group by 1, 2

),

months as (

    select distinct pickup_month from monthly

),

boroughs as (

    select distinct borough from monthly

),

spine as (

    select months.pickup_month, boroughs.borough
    from months
    cross join boroughs

),

filled as (

    select
        spine.pickup_month,
        spine.borough,
        cast(coalesce(monthly.trips, 0) as {{ dbt.type_bigint() }}) as trips,
        cast(coalesce(monthly.revenue, 0) as {{ taxi.type_double() }}) as revenue,
        cast(monthly.avg_fare as {{ taxi.type_double() }}) as avg_fare,
        cast(
            case when monthly.card_fares > 0 then monthly.card_tips / monthly.card_fares end
            as {{ taxi.type_double() }}
        ) as tip_rate
    from spine
    left join monthly
        on spine.pickup_month = monthly.pickup_month
        and spine.borough = monthly.borough

),

compared as (

    select
        cur.pickup_month,
        cur.borough,
        cur.trips,
        cur.revenue,
        cur.avg_fare,
        cur.tip_rate,
        prev.trips as prev_trips,
        prev.revenue as prev_revenue,
        prev.avg_fare as prev_avg_fare,
        prev.tip_rate as prev_tip_rate
    from filled as cur
    left join filled as prev
        on prev.pickup_month = {{ taxi.month_start(dbt.dateadd('month', -1, 'cur.pickup_month')) }}
        and prev.borough = cur.borough

)

select
    pickup_month,
    borough,
    trips,
    revenue,
    avg_fare,
    tip_rate,
    prev_trips,
    prev_revenue,
    prev_avg_fare,
    prev_tip_rate,
    -- Relative changes (0.25 = +25 %); null when there is no previous month or it is zero.
    cast(case when prev_trips > 0 then trips / cast(prev_trips as {{ taxi.type_double() }}) - 1 end
        as {{ taxi.type_double() }}) as trips_mom_change,
    cast(case when prev_revenue != 0 then revenue / prev_revenue - 1 end
        as {{ taxi.type_double() }}) as revenue_mom_change,
    cast(case when prev_avg_fare != 0 then avg_fare / prev_avg_fare - 1 end
        as {{ taxi.type_double() }}) as avg_fare_mom_change,
    -- Absolute change of a rate (0.01 = +1 percentage point).
    cast(tip_rate - prev_tip_rate as {{ taxi.type_double() }}) as tip_rate_mom_change
from compared

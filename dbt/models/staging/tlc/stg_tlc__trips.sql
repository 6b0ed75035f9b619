-- One row per distinct trip: raw TLC records typed, renamed to snake_case and deduplicated.
-- A trip delivered twice (the same record in two monthly files) keeps its newest delivery.

with source as (

    select * from {{ source('tlc', 'trips') }}

),

renamed as (

    select
        cast(VendorID as {{ dbt.type_int() }}) as vendor_id,
        tpep_pickup_datetime as pickup_datetime,
        tpep_dropoff_datetime as dropoff_datetime,
        pickup_date,
        cast(passenger_count as {{ dbt.type_int() }}) as passenger_count,
        cast(trip_distance as {{ taxi.type_double() }}) as trip_distance,
        cast(RatecodeID as {{ dbt.type_int() }}) as ratecode_id,
        case upper(store_and_fwd_flag) when 'Y' then true when 'N' then false end
            as is_store_and_forward,
        cast(PULocationID as {{ dbt.type_int() }}) as pickup_location_id,
        cast(DOLocationID as {{ dbt.type_int() }}) as dropoff_location_id,
        cast(payment_type as {{ dbt.type_int() }}) as payment_type_id,
        cast(fare_amount as {{ taxi.type_double() }}) as fare_amount,
        cast(extra as {{ taxi.type_double() }}) as extra_amount,
        cast(mta_tax as {{ taxi.type_double() }}) as mta_tax_amount,
        cast(tip_amount as {{ taxi.type_double() }}) as tip_amount,
        cast(tolls_amount as {{ taxi.type_double() }}) as tolls_amount,
        cast(improvement_surcharge as {{ taxi.type_double() }}) as improvement_surcharge_amount,
        cast(total_amount as {{ taxi.type_double() }}) as total_amount,
        cast(congestion_surcharge as {{ taxi.type_double() }}) as congestion_surcharge_amount,
        cast(airport_fee as {{ taxi.type_double() }}) as airport_fee_amount,
        cast(cbd_congestion_fee as {{ taxi.type_double() }}) as cbd_congestion_fee_amount,
        source_file,
        source_month

    from source

),

keyed as (

    select
        {{ taxi.hash_key([
            'vendor_id',
            taxi.timestamp_key('pickup_datetime'),
            taxi.timestamp_key('dropoff_datetime'),
            'pickup_location_id',
            'dropoff_location_id',
            taxi.hundredths_key('trip_distance'),
            taxi.hundredths_key('fare_amount'),
            taxi.hundredths_key('total_amount'),
        ]) }} as trip_id,
        *
    from renamed

),

deduplicated as (

    select *
    from keyed
    where true  -- BigQuery requires a WHERE, GROUP BY or HAVING next to QUALIFY
    -- pickup_date is part of the key (it is the date of pickup_datetime), so partitioning by it
    -- lets a pickup_date filter on this view reach the raw table's partitions.
    qualify row_number() over (
        partition by pickup_date, trip_id
        order by source_month desc, source_file desc
    ) = 1

)

select * from deduplicated

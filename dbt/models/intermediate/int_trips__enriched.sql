-- Deduplicated trips enriched for both marts: pickup/drop-off zones and boroughs from the taxi
-- zone seed, datetime parts, trip duration, a distance bucket and payment/rate code names.
-- Grain: one row per trip_id, as stg_tlc__trips. Nothing is filtered here.

with trips as (

    select * from {{ ref('stg_tlc__trips') }}

),

zones as (

    select
        cast(LocationID as {{ dbt.type_int() }}) as location_id,
        -- The TLC file writes "N/A" for "no value" (zones 264 Unknown and 265 Outside of NYC).
        coalesce(nullif(Borough, 'N/A'), 'Unknown') as borough,
        nullif(Zone, 'N/A') as zone_name,
        nullif(service_zone, 'N/A') as service_zone
    from {{ ref('taxi_zones') }}

),

payment_types as (

    select
        cast(payment_type_id as {{ dbt.type_int() }}) as payment_type_id,
        payment_type_name
    from {{ ref('payment_types') }}

),

rate_codes as (

    select
        cast(ratecode_id as {{ dbt.type_int() }}) as ratecode_id,
        ratecode_name
    from {{ ref('rate_codes') }}

),

enriched as (

    select
        trips.trip_id,
        trips.vendor_id,
        trips.pickup_datetime,
        trips.dropoff_datetime,
        trips.pickup_date,
        {{ taxi.month_start('trips.pickup_date') }} as pickup_month,
        cast(extract(hour from trips.pickup_datetime) as {{ dbt.type_int() }}) as pickup_hour,
        {{ taxi.iso_day_of_week('trips.pickup_datetime') }} as pickup_day_of_week,
        {{ taxi.iso_day_of_week('trips.pickup_datetime') }} >= 6 as is_weekend,
        {{ dbt.datediff('trips.pickup_datetime', 'trips.dropoff_datetime', 'second') }} / 60.0
            as trip_duration_minutes,
        trips.trip_distance,
        case
            when trips.trip_distance is null or trips.trip_distance < 0 then 'invalid'
            when trips.trip_distance < 1 then '0-1 mi'
            when trips.trip_distance < 2 then '1-2 mi'
            when trips.trip_distance < 5 then '2-5 mi'
            when trips.trip_distance < 10 then '5-10 mi'
            when trips.trip_distance < 20 then '10-20 mi'
            else '20+ mi'
        end as distance_bucket,
        trips.passenger_count,
        trips.pickup_location_id,
        pickup_zones.zone_name as pickup_zone,
        coalesce(pickup_zones.borough, 'Unknown') as pickup_borough,
        pickup_zones.service_zone as pickup_service_zone,
        trips.dropoff_location_id,
        dropoff_zones.zone_name as dropoff_zone,
        coalesce(dropoff_zones.borough, 'Unknown') as dropoff_borough,
        dropoff_zones.service_zone as dropoff_service_zone,
        coalesce(
            pickup_zones.service_zone in ('Airports', 'EWR')
            or dropoff_zones.service_zone in ('Airports', 'EWR')
            or trips.ratecode_id in (2, 3),
            false
        ) as is_airport_trip,
        trips.ratecode_id,
        coalesce(rate_codes.ratecode_name, 'Unknown') as ratecode_name,
        trips.payment_type_id,
        coalesce(payment_types.payment_type_name, 'Unknown') as payment_type_name,
        trips.is_store_and_forward,
        trips.fare_amount,
        trips.extra_amount,
        trips.mta_tax_amount,
        trips.tip_amount,
        trips.tolls_amount,
        trips.improvement_surcharge_amount,
        trips.total_amount,
        trips.congestion_surcharge_amount,
        trips.airport_fee_amount,
        trips.cbd_congestion_fee_amount,
        trips.source_file,
        trips.source_month

    from trips
    left join zones as pickup_zones
        on trips.pickup_location_id = pickup_zones.location_id
    left join zones as dropoff_zones
        on trips.dropoff_location_id = dropoff_zones.location_id
    left join payment_types
        on trips.payment_type_id = payment_types.payment_type_id
    left join rate_codes
        on trips.ratecode_id = rate_codes.ratecode_id

)

select * from enriched

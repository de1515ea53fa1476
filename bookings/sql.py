"""
Every hand-written SQL statement of the bookings app, and why each one is not the ORM.

They sit on the hot paths (availability, quotes, booking create; bench/README.md), where
compiling the ORM's query cost more than PostgreSQL spent running it. Each is built once, at
import, from the models' metadata with config/sql.py (which describes the pattern): table and
column names from `_meta`, an INSERT's column list from the model with its defaults taken from
the model on every call. config/tests/test_sql.py checks every INSERT here against the model
and the database. Stations' tables are named through stations' models (bookings may read
them: DESIGN.md §2).

Who runs what: services (LOCK_STATION_DAY, CUSTOMER_UPSERT), pricing (TRAVEL_FEE), selectors
(ACTIVE_STATION_WITH_CHEFS, STATION_PRICED), scheduling (CHEF_DAY), notifications
(NOTIFICATION_INSERT).
"""

from django.db import connection

from bookings.models import Booking, Customer, Notification, PriceList
from config.sql import Insert, Table, columns
from stations.models import Chef, ServiceZone, Station, TimeOff

_booking = Table(Booking)
_customer = Table(Customer)
_notification = Table(Notification)
_price_list = Table(PriceList)
_chef = Table(Chef)
_station = Table(Station)
_time_off = Table(TimeOff)
_zone = Table(ServiceZone)


# --- Writes that pick or move a chef (services._lock_days) -----------------------------------

# A transaction-level advisory lock on (station id, local event date as an ordinal): writes
# that pick a chef for a day queue behind each other, so the per-chef daily cap is counted
# without races. Taken sorted by day, so two writes never wait for each other in a circle.
LOCK_STATION_DAY = "SELECT pg_advisory_xact_lock(%s, %s)"


# --- Quotes (pricing.travel_fee_for) ---------------------------------------------------------

# The zone fee for a ZIP code, none outside the service area. Plain SQL: every quote and
# booking asks, and compiling the ORM query cost more than running it. The ZIP is cast to the
# array's own type (from the model) so `@>` compares like with like.
TRAVEL_FEE = (
    f"SELECT {_zone.travel_fee_cents} FROM {_zone} "
    f"WHERE {_zone.station} = %s "
    f"AND {_zone.zip_codes} @> ARRAY[%s]::"
    f"{ServiceZone._meta.get_field('zip_codes').db_type(connection)} "
    f"ORDER BY {_zone.pk} LIMIT 1"
)


# --- Reads (selectors) -----------------------------------------------------------------------

# An active station by slug and, as `active_chef_ids`, its active chefs' ids: one query, for
# Station.objects.raw. It runs on every availability request, the busiest public read, where
# compiling the equivalent ORM aggregate cost more than executing it.
ACTIVE_STATION_WITH_CHEFS = (
    f"SELECT s.*, ARRAY(SELECT c.{_chef.pk} FROM {_chef} c "
    f"WHERE c.{_chef.station} = s.{_station.pk} AND c.{_chef.active} "
    f"ORDER BY c.{_chef.pk}) AS active_chef_ids "
    f"FROM {_station} s WHERE s.{_station.slug} = %s AND s.{_station.active}"
)

# An active station by slug with its price list (all of Station's columns, then all of
# PriceList's, NULLs when it has none), in one query. Every quote and booking starts here: the
# ORM's select_related compiled the same ~60-column query on every request, which cost more
# than running it.
STATION_PRICED = (
    f"SELECT {columns(Station, 's')}, {columns(PriceList, 'p')} "
    f"FROM {_station} s LEFT JOIN {_price_list} p ON p.{_price_list.station} = s.{_station.pk} "
    f"WHERE s.{_station.slug} = %s AND s.{_station.active}"
)


# --- The booking-write path's free chefs (scheduling.free_chefs_for) -------------------------

# Per active chef of the station: its active bookings on %(day)s, and whether it is free for
# [%(lo)s, %(hi)s) (no active booking's blocked range and no time off overlaps it). One query
# on the write path; availability applies the same rules over many days in memory
# (scheduling.load_busy and _compute_days), and bookings/tests/test_availability_agrees.py
# checks that the two agree. The bookings are read once, through the (station, event_date)
# index (booking_station_date_idx), for the day and a day each side (%(first)s..%(last)s:
# buffers across midnight).
CHEF_DAY = f"""
WITH b AS (
    SELECT {_booking.chef}, {_booking.event_date}, {_booking.blocked} FROM {_booking}
     WHERE {_booking.station} = %(station)s AND {_booking.event_date} BETWEEN %(first)s AND %(last)s
       AND {_booking.status} = ANY(%(active)s) AND {_booking.pk} <> %(exclude)s
)
SELECT c.{_chef.pk},
       (SELECT count(*) FROM b WHERE b.{_booking.chef} = c.{_chef.pk}
           AND b.{_booking.event_date} = %(day)s),
       NOT EXISTS (SELECT 1 FROM b
                    WHERE b.{_booking.chef} = c.{_chef.pk}
                      AND b.{_booking.blocked} && tstzrange(%(lo)s, %(hi)s))
       AND NOT EXISTS (SELECT 1 FROM {_time_off} t
                        WHERE t.{_time_off.chef} = c.{_chef.pk}
                          AND t.{_time_off.starts_at} < %(hi)s AND t.{_time_off.ends_at} > %(lo)s)
  FROM {_chef} c
 WHERE c.{_chef.station} = %(station)s AND c.{_chef.active} AND c.{_chef.pk} <> %(exclude_chef)s
   AND (%(only_chef)s::integer IS NULL OR c.{_chef.pk} = %(only_chef)s::integer)
 ORDER BY c.{_chef.pk}
"""


# --- Customers (services.customer_upsert) ----------------------------------------------------

# A new customer: the contact and sms consent the request gave; the other consent flags and
# everything else as Customer() would have them (the model's defaults, NEW_CUSTOMER.defaults()).
NEW_CUSTOMER = Insert(
    Customer,
    {
        "station": "%(station)s",
        "name": "%(name)s",
        "email": "%(email)s",
        "phone": "%(phone)s",
        "sms_opt_in": "%(sms_opt_in)s",
        "created_at": "now()",
        "updated_at": "now()",
    },
)

# The station's customer with this e-mail or phone (an e-mail match wins), locked; with
# %(update)s it gets the new name and sms consent, and the e-mail or phone it lacked unless
# another customer of the station has it; else a new customer. One statement, no savepoint
# (it runs inside the booking's transaction): a concurrent request creating the same person
# makes our INSERT do nothing (ON CONFLICT DO NOTHING on the per-station unique e-mail and
# phone) and the statement returns no row; the caller asks again and reads theirs. Returns
# the customer's row (all its columns, in field order).
CUSTOMER_UPSERT = f"""
WITH found AS (
    SELECT {_customer.pk} FROM {_customer}
     WHERE {_customer.station} = %(station)s
       AND ((%(email)s <> '' AND {_customer.email} = %(email)s)
            OR (%(phone)s <> '' AND {_customer.phone} = %(phone)s))
     ORDER BY (%(email)s <> '' AND {_customer.email} = %(email)s) DESC, {_customer.pk}
     LIMIT 1
       FOR UPDATE
), updated AS (
    UPDATE {_customer} c
       SET {_customer.name} = CASE WHEN %(update)s AND %(name)s <> '' THEN %(name)s
                              ELSE c.{_customer.name} END,
           {_customer.email} = CASE WHEN %(update)s AND c.{_customer.email} = '' AND NOT EXISTS (
                       SELECT 1 FROM {_customer} o
                        WHERE o.{_customer.station} = c.{_customer.station}
                          AND o.{_customer.email} = %(email)s)
                   THEN %(email)s ELSE c.{_customer.email} END,
           {_customer.phone} = CASE WHEN %(update)s AND c.{_customer.phone} = '' AND NOT EXISTS (
                       SELECT 1 FROM {_customer} o
                        WHERE o.{_customer.station} = c.{_customer.station}
                          AND o.{_customer.phone} = %(phone)s)
                   THEN %(phone)s ELSE c.{_customer.phone} END,
           {_customer.sms_opt_in} = c.{_customer.sms_opt_in} OR (%(update)s AND %(sms_opt_in)s),
           {_customer.updated_at} = now()
      FROM found
     WHERE c.{_customer.pk} = found.{_customer.pk}
 RETURNING c.*
), inserted AS (
    INSERT INTO {_customer} ({NEW_CUSTOMER.columns})
    SELECT {NEW_CUSTOMER.values}
     WHERE NOT EXISTS (SELECT 1 FROM found)
        ON CONFLICT DO NOTHING
 RETURNING *
)
SELECT {columns(Customer)} FROM updated UNION ALL SELECT {columns(Customer)} FROM inserted
"""


# --- The customer-message outbox (notifications.notify_customer) -----------------------------

# One message, once per key (a retried caller queues nothing new): the new row's id, or no
# row when the key was queued before. The rest (attempts, last error...) as Notification()
# has it (NEW_NOTIFICATION.defaults()).
NEW_NOTIFICATION = Insert(
    Notification,
    {
        "booking": "%(booking)s",
        "key": "%(key)s",
        "channel": "%(channel)s",
        "subject": "%(subject)s",
        "text": "%(text)s",
        "status": "%(status)s",
        "reminder_kind": "%(reminder_kind)s",
        "event_starts_at": "%(event_starts_at)s",
        "created_at": "%(created_at)s",
    },
)
NOTIFICATION_INSERT = (
    f"INSERT INTO {_notification} ({NEW_NOTIFICATION.columns}) VALUES ({NEW_NOTIFICATION.values}) "
    f"ON CONFLICT ({_notification.key}) DO NOTHING RETURNING {_notification.pk}"
)

"""English formats, with the time zone named wherever a date and time is shown (the admin shows
them in the station's zone: `stations.admin_time`). Only display formats change; what a form
accepts stays Django's."""

DATETIME_FORMAT = "N j, Y, P T"  # Dec. 6, 2026, 6 p.m. PST
SHORT_DATETIME_FORMAT = "m/d/Y P T"

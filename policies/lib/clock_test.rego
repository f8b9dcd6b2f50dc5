package gatehouse.lib.clock_test

import data.gatehouse.lib.clock

test_rfc3339 if {
	clock.valid("2026-11-24T10:00:00Z")
	clock.valid("2026-11-24T10:00:00.123456Z")
	clock.valid("2026-11-24T11:00:00+01:00")
	not clock.valid("2026-11-24 10:00:00")
	not clock.valid("2026-11-24")
	not clock.valid(1795341600)
	not clock.valid(null)
	clock.ns("2026-11-24T11:00:00+01:00") == clock.ns("2026-11-24T10:00:00Z")
	not clock.ns("tomorrow")
}

test_now if {
	clock.now_ns == 1795341600000000000 with input as {"time": "2026-11-22T10:00:00Z"}
	not clock.now_ns with input as {}
	not clock.now_ns with input as {"time": "now"}
}

test_clock_times if {
	clock.minutes("00:00") == 0
	clock.minutes("09:30") == 570
	clock.minutes("23:59") == 1439
	clock.minutes("24:00") == 1440
	not clock.minutes("24:01")
	not clock.minutes("9:30")
	not clock.minutes("25:00")
	not clock.minutes(930)
}

test_days if {
	clock.day_index("mon") == 0
	clock.day_index("Sat") == 5
	clock.day_index("sunday") == 6
	clock.day_index("Wednesday") == 2
	not clock.day_index("weekend")
	not clock.day_index(1)
}

test_rfc3339_shape_is_checked_by_position if {
	not clock.valid("2026-11-24T10:00:0Z")
	not clock.valid("2026/11/24T10:00:00Z")
	not clock.valid("2026-11-24T1a:00:00Z")
	not clock.valid("x026-11-24T10:00:00Z")
}

package bridge

import "time"

var fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

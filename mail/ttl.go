package mail

import (
	"strconv"
	"time"
)

// FormatTTL writes d for Data.ExpiresIn: whole hours as "1 hour" or
// "24 hours", else whole minutes as "90 minutes", else seconds rounded up.
// It returns "" for d <= 0, which the built-in templates leave out.
func FormatTTL(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	default:
		secs := int64(d / time.Second)
		if d%time.Second != 0 {
			secs++
		}
		return plural(secs, "second")
	}
}

// plural writes n and unit, adding an "s" unless n is 1.
func plural(n int64, unit string) string {
	s := strconv.FormatInt(n, 10) + " " + unit
	if n != 1 {
		s += "s"
	}
	return s
}

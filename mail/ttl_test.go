package mail

import (
	"math"
	"testing"
	"time"
)

func TestFormatTTLWritesDurationsForHumans(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{d: time.Hour, want: "1 hour"},
		{d: 24 * time.Hour, want: "24 hours"},
		{d: 90 * time.Minute, want: "90 minutes"},
		{d: time.Minute, want: "1 minute"},
		{d: 45 * time.Second, want: "45 seconds"},
		{d: 1500 * time.Millisecond, want: "2 seconds"},
		{d: time.Nanosecond, want: "1 second"},
		{d: 0, want: ""},
		{d: -time.Hour, want: ""},
		{d: math.MaxInt64, want: "9223372037 seconds"},
	}
	for _, tt := range tests {
		if got := FormatTTL(tt.d); got != tt.want {
			t.Errorf("FormatTTL(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

package lease

import (
	"math"
	"testing"
	"time"

	"authgate/auth"
)

func held(epoch string) *Lease {
	l := New(nil, auth.NewRevocations(), "bench", nil)
	l.epoch.Store(&epoch)
	l.deadline.Store(math.MaxInt64)
	return l
}

func TestAdmit(t *testing.T) {
	l := held("e1")
	if err := l.Admit("e1", time.Now()); err != nil {
		t.Fatalf("held lease, same epoch: %v", err)
	}
	if err := l.Admit("e0", time.Now()); err != ErrStaleEpoch {
		t.Fatalf("other epoch: %v, want ErrStaleEpoch", err)
	}
	if err := l.Admit("", time.Now()); err != ErrStaleEpoch {
		t.Fatalf("token without an epoch: %v, want ErrStaleEpoch", err)
	}
	l.deadline.Store(mono() - 1)
	if err := l.Admit("e1", time.Now()); err != auth.ErrNotInStep {
		t.Fatalf("lapsed lease: %v, want ErrNotInStep", err)
	}
	if err := New(nil, auth.NewRevocations(), "new", nil).Admit("", time.Now()); err != auth.ErrNotInStep {
		t.Fatalf("a new lease admits before its first renewal: %v", err)
	}
}

// TestExtensionCountsOnlyOnceApplied: a renewal that returned number S
// extends the lease only once the instance has applied through S.
func TestExtensionCountsOnlyOnceApplied(t *testing.T) {
	l := held("e1")
	l.deadline.Store(math.MinInt64)
	l.synced, l.last = true, 5
	d := mono() + int64(time.Second)
	l.exts = []extension{{s: 7, d: d, epoch: "e1"}}
	l.commitLocked()
	if l.deadline.Load() != math.MinInt64 {
		t.Fatal("the lease was extended before the instance applied through 7")
	}
	l.last = 7
	l.commitLocked()
	if l.deadline.Load() != d || len(l.exts) != 0 {
		t.Fatalf("deadline %d, want %d; %d extensions left", l.deadline.Load(), d, len(l.exts))
	}
	// Another epoch's renewal never extends.
	l.exts = []extension{{s: 1, d: d + 1, epoch: "e0"}}
	l.commitLocked()
	if l.deadline.Load() != d {
		t.Fatal("a renewal of another epoch extended the lease")
	}
}

// BenchmarkAdmit is what the guarantee adds to every authenticated request
// on a Redis store: a monotonic subtraction, one atomic load and an epoch
// comparison; the clock is read once per request by the caller.
func BenchmarkAdmit(b *testing.B) {
	l := held("0123456789abcdef01")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if l.Admit("0123456789abcdef01", now) != nil {
			b.Fatal("refused")
		}
	}
}

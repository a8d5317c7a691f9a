// Package memwatch samples how much a process's memory grows while
// something runs, for the tests that show a transfer is streamed rather
// than held in memory.
package memwatch

import (
	"runtime"
	"time"
)

// Sampler records the peak of HeapInuse and Sys while it runs.
type Sampler struct {
	base              runtime.MemStats
	peakHeap, peakSys uint64
	stop              chan struct{}
	done              chan struct{}
}

// Start collects garbage, takes the baseline and samples every 20 ms.
func Start() *Sampler {
	runtime.GC()
	m := &Sampler{stop: make(chan struct{}), done: make(chan struct{})}
	runtime.ReadMemStats(&m.base)
	m.peakHeap, m.peakSys = m.base.HeapInuse, m.base.Sys
	go func() {
		defer close(m.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var s runtime.MemStats
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&s)
				m.peakHeap = max(m.peakHeap, s.HeapInuse)
				m.peakSys = max(m.peakSys, s.Sys)
			}
		}
	}()
	return m
}

// Growth stops sampling and returns the peak growth of HeapInuse and Sys
// over the baseline.
func (m *Sampler) Growth() (heap, sys int64) {
	close(m.stop)
	<-m.done
	return int64(m.peakHeap) - int64(m.base.HeapInuse), int64(m.peakSys) - int64(m.base.Sys)
}

package boltstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The expiries bucket orders everything that expires by when it does, so the
// sweeper reads only what is due. A key is the expiry as 8 big-endian bytes
// of Unix nanoseconds, a kind byte, then the key of the record in its own
// bucket.
const (
	kindSession    byte = 's' // sessions bucket, at RefreshExpiresAt
	kindRevocation byte = 'r' // revocations bucket, at until
	kindOneTime    byte = 'o' // one_time bucket, at its expiry
)

var (
	minExpiry = time.Unix(0, 0)
	maxExpiry = time.Unix(0, math.MaxInt64)
)

// sweepBatch bounds the records one sweeping transaction deletes, so the
// write lock is never held for long.
const sweepBatch = 5000

// expiryKey is the key of record id of kind in the expiries bucket.
func expiryKey(at time.Time, kind byte, id []byte) []byte {
	var ns uint64
	switch {
	case at.Before(minExpiry):
		ns = 0
	case at.After(maxExpiry):
		ns = math.MaxInt64
	default:
		ns = uint64(at.UnixNano())
	}
	k := make([]byte, 9, 9+len(id))
	binary.BigEndian.PutUint64(k, ns)
	k[8] = kind
	return append(k, id...)
}

func addExpiry(tx *bolt.Tx, at time.Time, kind byte, id []byte) error {
	return tx.Bucket(bucketExpiries).Put(expiryKey(at, kind, id), present)
}

func removeExpiry(tx *bolt.Tx, at time.Time, kind byte, id []byte) error {
	return tx.Bucket(bucketExpiries).Delete(expiryKey(at, kind, id))
}

// sweepLoop deletes expired records every sweep interval until Close.
func (s *Store) sweepLoop() {
	defer s.swept.Done()
	tick := time.NewTicker(s.sweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stopSweep:
			return
		case <-tick.C:
			if _, err := s.sweep(); err != nil {
				s.log.Warn("sweep expired records", "err", err)
			}
		}
	}
}

// sweep deletes every record that has expired by now and returns how many.
func (s *Store) sweep() (int, error) {
	total := 0
	for {
		n, err := s.sweepOnce(s.now())
		total += n
		if err != nil || n < sweepBatch {
			return total, err
		}
	}
}

// sweepOnce deletes up to sweepBatch expired records in one transaction.
func (s *Store) sweepOnce(now time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		limit := expiryKey(now, 0, nil)
		var due [][]byte
		c := tx.Bucket(bucketExpiries).Cursor()
		for k, _ := c.First(); k != nil && len(due) < sweepBatch; k, _ = c.Next() {
			if len(k) < 9 || string(k[:8]) > string(limit[:8]) {
				break
			}
			due = append(due, append([]byte(nil), k...))
		}
		for _, k := range due {
			if err := tx.Bucket(bucketExpiries).Delete(k); err != nil {
				return err
			}
			id := k[9:]
			var err error
			switch k[8] {
			case kindSession:
				err = deleteSessionIfExpired(tx, string(id), now)
			case kindRevocation:
				err = deleteRevocationIfExpired(tx, id, now)
			case kindOneTime:
				err = deleteOneTimeIfExpired(tx, id, now)
			}
			if err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("sweep: %w", err)
	}
	return n, nil
}

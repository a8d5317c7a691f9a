package gateway

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authgate/store/redistest"
)

// Gateways on a real Redis Cluster and through a real Redis Sentinel, both
// private to the test (started here, stopped after).

func quoted(addrs []string) string {
	return `["` + strings.Join(addrs, `", "`) + `"]`
}

// load runs sessions (log in, proxied request, refresh, proxied request,
// log out, then the logged-out token at every instance) until stop is
// closed, counting what happened.
type load struct {
	ok, unavailable, other5xx, stale atomic.Int64
	firstOther                       atomic.Value
}

func (l *load) count(r resp) bool {
	switch {
	case r.status == 503:
		l.unavailable.Add(1)
		return false
	case r.status >= 500:
		if l.other5xx.Add(1) == 1 {
			l.firstOther.Store(fmt.Sprintf("%d %s", r.status, r.body))
		}
		return false
	}
	l.ok.Add(1)
	return true
}

func (l *load) run(envs []*testEnv, user string, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		e := envs[rand.IntN(len(envs))]
		r := e.do("POST", "/auth", `{"username":"`+user+`","password":"`+user+`-password-1"}`)
		if !l.count(r) || r.status != 200 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		m := r.json(e.t)
		access, refresh := m["access_token"].(string), m["refresh_token"].(string)
		l.count(envs[rand.IntN(len(envs))].do("GET", "/api/x", "", bearer(access)...))
		r = envs[rand.IntN(len(envs))].do("POST", "/auth/refresh", `{"refresh_token":"`+refresh+`"}`)
		if l.count(r) && r.status == 200 {
			access = r.json(e.t)["access_token"].(string)
		}
		l.count(envs[rand.IntN(len(envs))].do("GET", "/api/x", "", bearer(access)...))
		r = envs[rand.IntN(len(envs))].do("POST", "/logout", "", bearer(access)...)
		if !l.count(r) || r.status != 204 {
			continue
		}
		for _, e := range envs {
			if r := e.do("GET", "/api/x", "", bearer(access)...); r.status == 200 {
				l.stale.Add(1)
			}
		}
	}
}

func (l *load) check(t *testing.T, what string) {
	t.Helper()
	t.Logf("%s: %d answered, %d 503, %d other 5xx, %d stale successes",
		what, l.ok.Load(), l.unavailable.Load(), l.other5xx.Load(), l.stale.Load())
	if l.other5xx.Load() != 0 || l.stale.Load() != 0 {
		t.Fatalf("%s: %d 5xx other than 503 (first: %v), %d stale successes",
			what, l.other5xx.Load(), l.firstOther.Load(), l.stale.Load())
	}
}

// sessions logs in n times and returns the refresh tokens.
func sessions(t *testing.T, envs []*testEnv, user string, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		_, refresh := envs[i%len(envs)].login(user, user+"-password-1")
		out = append(out, refresh)
	}
	return out
}

// refreshAll refreshes every session (retrying 503 for up to 20 s) and fails
// for a session that is gone.
func refreshAll(t *testing.T, envs []*testEnv, refreshes []string) {
	t.Helper()
	for i, rt := range refreshes {
		deadline := time.Now().Add(20 * time.Second)
		for {
			r := envs[i%len(envs)].do("POST", "/auth/refresh", `{"refresh_token":"`+rt+`"}`)
			if r.status == 200 {
				break
			}
			if r.status != 503 || time.Now().After(deadline) {
				t.Fatalf("session %d lost: refresh answered %d %s", i, r.status, r.body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func TestGatewaysOnRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	conn := "cluster_addrs: " + quoted(cl.Addrs())

	t.Run("revocation across instances", func(t *testing.T) {
		envs := envsWith(t, 3, conn, nil)
		rounds := iterations(1000) / 4
		if stale, fivexx := race(t, envs, rounds, nil); stale != 0 || fivexx != 0 {
			t.Fatalf("%d rounds on the cluster: %d stale successes, %d 5xx", rounds, stale, fivexx)
		}
	})

	t.Run("rate limits are shared", func(t *testing.T) {
		envs := envsWith(t, 2, conn, func(y string) string {
			return strings.Replace(y, `login_per_ip: "1000-M"`, `login_per_ip: "3-M"`, 1)
		})
		body := `{"username":"nobody","password":"whatever-pw"}`
		for i, e := range []*testEnv{envs[0], envs[1], envs[0]} {
			if r := e.do("POST", "/auth", body); r.status != 401 {
				t.Fatalf("attempt %d: %d", i, r.status)
			}
		}
		if r := envs[1].do("POST", "/auth", body); r.status != 429 {
			t.Fatalf("4th attempt across instances: %d", r.status)
		}
	})

	t.Run("resharding loses no session", func(t *testing.T) {
		envs := envsWith(t, 2, conn, nil)
		envs[0].addUser("shard", "shard-password-1", "user")
		refreshes := sessions(t, envs, "shard", 40)
		var l load
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(2)
		go l.run(envs, "shard", stop, &wg)
		go l.run(envs, "shard", stop, &wg)
		// Move 2000 slots from the first primary to the second.
		var primaries []string
		for _, n := range cl.Nodes {
			role, _ := n.Do("ROLE").([]any)
			if len(role) > 0 && role[0] == "master" {
				primaries = append(primaries, n.Do("CLUSTER", "MYID").(string))
			}
		}
		out, err := exec.Command("redis-cli", "--cluster", "reshard", cl.Nodes[0].Addr(),
			"--cluster-from", primaries[0], "--cluster-to", primaries[1],
			"--cluster-slots", "2000", "--cluster-yes").CombinedOutput()
		if err != nil {
			t.Fatalf("reshard: %v\n%s", err, out)
		}
		close(stop)
		wg.Wait()
		l.check(t, "sessions during resharding")
		refreshAll(t, envs, refreshes)
	})
}

func TestGatewaysThroughRedisSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	conn := fmt.Sprintf("sentinel: {master: %q, addrs: %s}", s.Master, quoted(s.Addrs()))
	envs := envsWith(t, 2, conn, nil)
	envs[0].addUser("fail", "fail-password-1", "user")
	if stale, fivexx := race(t, envs, 30, nil); stale != 0 || fivexx != 0 {
		t.Fatalf("before the failover: %d stale successes, %d 5xx", stale, fivexx)
	}
	refreshes := sessions(t, envs, "fail", 20)
	revokedAccess, _ := envs[1].login("fail", "fail-password-1")
	if r := envs[1].do("POST", "/logout", "", bearer(revokedAccess)...); r.status != 204 {
		t.Fatalf("logout: %d", r.status)
	}
	waitReplicated(t, s)

	var l load
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go l.run(envs, "fail", stop, &wg)
	go l.run(envs, "fail", stop, &wg)
	time.Sleep(300 * time.Millisecond)
	killed := time.Now()
	s.Primary.Stop()
	// Wait for the sentinels to promote the replica and the gateways to
	// find it: a login works again.
	for {
		if r := envs[0].do("POST", "/auth", `{"username":"fail","password":"fail-password-1"}`); r.status == 200 {
			break
		}
		if time.Since(killed) > 40*time.Second {
			t.Fatal("no login 40 s after the primary was killed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("logins work again %v after the primary was killed", time.Since(killed).Round(time.Millisecond))
	time.Sleep(time.Second) // keep the load on the new primary for a while
	close(stop)
	wg.Wait()
	l.check(t, "load across the failover")

	// What was replicated before the failover is all there: sessions, and
	// the revocation, also for an instance started after it.
	refreshAll(t, envs, refreshes)
	late := newEnvLike(t, envs[0])
	if r := late.do("GET", "/api/x", "", bearer(revokedAccess)...); r.status != 401 {
		t.Fatalf("a revocation made before the failover is lost: %d", r.status)
	}
}

// waitReplicated waits until the replica has everything the primary has.
func waitReplicated(t *testing.T, s *redistest.Sentinel) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, _ := s.Primary.Do("INFO", "replication").(string)
		r, _ := s.Replica.Do("INFO", "replication").(string)
		if po, ro := field(p, "master_repl_offset"), field(r, "master_repl_offset"); po != "" && po == ro {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not catch up:\n%s\n%s", p, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func field(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

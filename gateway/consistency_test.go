package gateway

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"authgate/lease"
	"authgate/store/redistest"
)

// These tests check the promise of package lease from outside: once a
// logout has been answered, no instance serves the session's token. A
// "stale success" is a 200 for a token after its logout answered.

// iterations is how many logout-then-request rounds a race test runs
// (AUTHGATE_TEST_ITERATIONS overrides).
func iterations(def int) int {
	if n, err := strconv.Atoi(os.Getenv("AUTHGATE_TEST_ITERATIONS")); err == nil && n > 0 {
		return n
	}
	return def
}

// envsOn starts n gateways on the Redis at url, sharing a fresh prefix.
func envsOn(t *testing.T, n int, url string) []*testEnv {
	return envsWith(t, n, `url: "`+url+`"`, nil)
}

// envsWith starts n gateways whose store.redis settings are conn (YAML
// flow fields), sharing a fresh prefix; edit may change the YAML further.
func envsWith(t *testing.T, n int, conn string, edit func(string) string) []*testEnv {
	t.Helper()
	prefix := fmt.Sprintf("authgate-lease-%d:", rand.Uint64())
	var envs []*testEnv
	for i := 0; i < n; i++ {
		envs = append(envs, newEnv(t, func(y string) string {
			y = sharedKey(strings.Replace(y, "store: {type: memory}",
				"store: {type: redis, redis: {"+conn+", prefix: \""+prefix+"\"}}", 1))
			if edit != nil {
				y = edit(y)
			}
			return y
		}))
	}
	return envs
}

func sharedKey(y string) string {
	return y + "tokens:\n  keys:\n    - {kid: shared, alg: HS256, secret: 0123456789abcdef0123456789abcdef}\n"
}

// race runs rounds of: log in at one instance, use the token at every
// instance (so each has it cached), log out at another, then use it at
// every instance at once. It returns the stale successes and the 5xx.
func race(t *testing.T, envs []*testEnv, rounds int, during func(round int)) (stale, fivexx int) {
	t.Helper()
	envs[0].addUser("racer", "racer-password-1", "user")
	for round := 0; round < rounds; round++ {
		if during != nil {
			during(round)
		}
		in := envs[round%len(envs)]
		access, _ := in.login("racer", "racer-password-1")
		for _, e := range envs {
			e.do("GET", "/api/x", "", bearer(access)...)
		}
		out := envs[(round+1)%len(envs)]
		path := "/logout"
		if round%7 == 0 {
			path = "/logout?all=true"
		}
		if r := out.do("POST", path, "", bearer(access)...); r.status != 204 {
			if r.status >= 500 {
				t.Logf("round %d: logout: %d %s", round, r.status, r.body)
				fivexx++
				continue
			}
			t.Fatalf("round %d: logout: %d %s", round, r.status, r.body)
		}
		var wg sync.WaitGroup
		var s, f atomic.Int32
		for _, e := range envs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch r := e.do("GET", "/api/x", "", bearer(access)...); {
				case r.status == 200:
					s.Add(1)
				case r.status >= 500 && r.status != 503:
					f.Add(1)
				}
			}()
		}
		wg.Wait()
		stale += int(s.Load())
		fivexx += int(f.Load())
	}
	return stale, fivexx
}

func TestNoInstanceServesASessionAfterItsLogoutAnswered(t *testing.T) {
	envs := redisEnvs(t, 3, nil)
	rounds := iterations(1000)
	stale, fivexx := race(t, envs, rounds, nil)
	if stale != 0 || fivexx != 0 {
		t.Fatalf("%d rounds: %d stale successes, %d 5xx other than 503", rounds, stale, fivexx)
	}
}

func TestALaggingFeedDelaysLogoutInsteadOfServingRevokedTokens(t *testing.T) {
	envs := redisEnvs(t, 3, nil)
	slow := envs[2].g.lease.(*lease.Lease)
	slow.SetApplyHook(func() { time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond) })
	rounds := iterations(1000) / 4
	stale, fivexx := race(t, envs, rounds, nil)
	if stale != 0 || fivexx != 0 {
		t.Fatalf("%d rounds with a lagging instance: %d stale successes, %d 5xx", rounds, stale, fivexx)
	}
}

func TestAStoppedFeedMakesItsInstanceRefuseTokensWithinTheLease(t *testing.T) {
	envs := redisEnvs(t, 3, nil)
	stuck := envs[2].g.lease.(*lease.Lease)
	release := make(chan struct{})
	stuck.SetApplyHook(func() { <-release })
	defer close(release)
	start := time.Now()
	stale, fivexx := race(t, envs, 3, nil)
	if stale != 0 || fivexx != 0 {
		t.Fatalf("with one instance's feed stopped: %d stale successes, %d 5xx", stale, fivexx)
	}
	// The stopped instance lost its lease: it answers 503, not 200.
	access, _ := envs[0].login("racer", "racer-password-1")
	if r := envs[2].do("GET", "/api/x", "", bearer(access)...); r.status != 503 || r.problemType(t) != "store-unavailable" {
		t.Fatalf("instance without a lease: %d %s", r.status, r.body)
	}
	if r := envs[2].do("GET", "/readyz", ""); r.status != 503 {
		t.Fatalf("/readyz of an instance without a lease: %d", r.status)
	}
	if r := envs[0].do("GET", "/readyz", ""); r.status != 200 {
		t.Fatalf("/readyz of an instance in step: %d %s", r.status, r.body)
	}
	t.Logf("3 logouts with a stopped instance took %v (each waits out its lease)", time.Since(start))
}

// TestDroppedRedisConnectionsNeverServeRevokedTokens kills every client
// connection of a private Redis (feeds, pools) every few rounds, and now
// and then moves the revocation numbering back.
func TestDroppedRedisConnectionsNeverServeRevokedTokens(t *testing.T) {
	srv := redistest.Start(t)
	envs := envsOn(t, 3, srv.URL())
	rounds := iterations(1000) / 4
	stale, fivexx := race(t, envs, rounds, func(round int) {
		if round%50 == 25 {
			// As after a restore from an older snapshot: the numbering went
			// back, the instances are ahead of the store.
			srv.Do("SET", envs[0].cfg.Store.Redis.Prefix+"{r}:seq", "1")
		}
		if round%10 == 5 {
			srv.Do("CLIENT", "KILL", "TYPE", "pubsub")
		}
		if round%10 == 9 {
			srv.Do("CLIENT", "KILL", "TYPE", "normal")
		}
	})
	if stale != 0 || fivexx != 0 {
		t.Fatalf("%d rounds with dropped connections: %d stale successes, %d 5xx", rounds, stale, fivexx)
	}
}

// TestDataLossFailsClosed: Redis restarted without persistence, and
// FLUSHALL. Tokens of sessions the store no longer has are refused by the
// instances that were running and by one started afterwards, within a
// lease; new logins work.
func TestDataLossFailsClosed(t *testing.T) {
	for _, loss := range []string{"restart", "flushall"} {
		t.Run(loss, func(t *testing.T) {
			srv := redistest.Start(t)
			envs := envsOn(t, 2, srv.URL())
			a, b := envs[0], envs[1]
			a.addUser("alice", "alice-password-1", "user")
			access, _ := a.login("alice", "alice-password-1")
			for _, e := range envs {
				if r := e.do("GET", "/api/x", "", bearer(access)...); r.status != 200 {
					t.Fatalf("before the loss: %d", r.status)
				}
			}
			if loss == "restart" {
				srv.Restart()
			} else {
				srv.Do("FLUSHALL")
			}
			lost := time.Now()
			late := newEnvLike(t, a)
			if r := late.do("GET", "/api/x", "", bearer(access)...); r.status == 200 {
				t.Fatalf("an instance started after the loss accepted a token of a lost session")
			}
			for _, e := range []*testEnv{a, b} {
				for {
					r := e.do("GET", "/api/x", "", bearer(access)...)
					if r.status != 200 {
						break
					}
					if time.Since(lost) > lease.Duration+lease.Grace {
						t.Fatalf("a token of a lost session still accepted %v after the loss", time.Since(lost))
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			// The user (gone with the data) cannot log in; a new one can,
			// and every instance accepts the new token.
			late.addUser("bob", "bob-password-1", "user")
			fresh, _ := b.login("bob", "bob-password-1")
			for i, e := range []*testEnv{a, b, late} {
				deadline := time.Now().Add(lease.Duration + lease.Grace)
				for {
					r := e.do("GET", "/api/x", "", bearer(fresh)...)
					if r.status == 200 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("instance %d refuses a token issued after the loss: %d %s", i, r.status, r.body)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}

// TestRedisRestartedMidRaceNeverServesRevokedTokens restarts the private
// Redis in the middle of the rounds.
func TestRedisRestartedMidRaceNeverServesRevokedTokens(t *testing.T) {
	srv := redistest.Start(t)
	envs := envsOn(t, 3, srv.URL())
	stale := 0
	for phase := 0; phase < 2; phase++ {
		if phase == 1 {
			srv.Restart()
			// The user is gone with the data: wait for the instances to
			// reconnect, then start over.
			time.Sleep(lease.Duration)
		}
		s, _ := race(t, envs, 30, nil)
		stale += s
	}
	if stale != 0 {
		t.Fatalf("%d stale successes around a Redis restart", stale)
	}
}

// buildAuthgate builds the authgate binary into a temporary directory.
func buildAuthgate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "authgate")
	cmd := exec.Command("go", "build", "-o", bin, "authgate")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestAFrozenInstanceRefusesRevokedTokensWhenItResumes: an instance (a
// real process) is stopped with SIGSTOP across a logout made elsewhere. A
// request written to it while it is stopped, and answered first thing after
// SIGCONT, must not pass with the revoked token.
func TestAFrozenInstanceRefusesRevokedTokensWhenItResumes(t *testing.T) {
	srv := redistest.Start(t)
	a := envsOn(t, 1, srv.URL())[0]
	a.addUser("frozen", "frozen-password-1", "user")
	bin := buildAuthgate(t)

	port := redistest.FreePort(t)
	y := strings.Replace(a.yaml, `listen: "127.0.0.1:0"`, fmt.Sprintf("listen: \"127.0.0.1:%d\"\nadmin_listen: \"off\"", port), 1)
	cfgPath := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	cmd := exec.Command(bin, "serve", "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("authgate output:\n%s", logs.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	access, _ := a.login("frozen", "frozen-password-1")
	get := "GET /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + access + "\r\n\r\n"
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st, _ := rawStatus(addr, get, nil); st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the subprocess instance never accepted the token")
		}
		time.Sleep(50 * time.Millisecond)
	}

	for round := 0; round < 3; round++ {
		if round > 0 {
			access, _ = a.login("frozen", "frozen-password-1")
			if st, _ := rawStatus(addr, "GET /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+access+"\r\n\r\n", nil); st != 200 {
				t.Fatalf("round %d: fresh token: %d", round, st)
			}
		}
		get = "GET /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + access + "\r\n\r\n"
		if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		if r := a.do("POST", "/logout", "", bearer(access)...); r.status != 204 {
			t.Fatalf("logout while the other instance is frozen: %d %s", r.status, r.body)
		}
		took := time.Since(started)
		// The request is queued in the kernel while the process is stopped.
		st, err := rawStatus(addr, get, func() { _ = cmd.Process.Signal(syscall.SIGCONT) })
		if err != nil {
			t.Fatal(err)
		}
		if st == 200 {
			t.Fatalf("round %d: the resumed instance served a token revoked while it was frozen", round)
		}
		t.Logf("round %d: logout took %v; first answer after SIGCONT: %d", round, took, st)
	}
}

// rawStatus sends one raw request to addr and returns the status; between
// writing and reading it calls between (when not nil).
func rawStatus(addr, req string, between func()) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		return 0, err
	}
	if between != nil {
		between()
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// BenchmarkLogoutLatency measures how long a logout takes to answer with
// 1, 3 and 10 instances on the shared Redis (in one process), reporting
// p50 and p99: each logout waits for every instance to acknowledge.
func BenchmarkLogoutLatency(b *testing.B) {
	for _, n := range []int{1, 3, 10} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			envs := redisEnvs(b, n, nil)
			envs[0].addUser("bench", "bench-password-1", "user")
			var took []time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				access, _ := envs[i%n].login("bench", "bench-password-1")
				b.StartTimer()
				start := time.Now()
				if r := envs[(i+1)%n].do("POST", "/logout", "", bearer(access)...); r.status != 204 {
					b.Fatalf("logout: %d", r.status)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}

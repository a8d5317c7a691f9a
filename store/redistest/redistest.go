// Package redistest starts private redis-server processes on free loopback
// ports for tests that must kill, restart, flush or fail over Redis, which
// they may never do to the shared Redis on 6379. Tests skip when
// redis-server is missing unless AUTHGATE_TEST_REDIS is set; then they fail.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	Port int
	dir  string
	args []string
	cmd  *exec.Cmd
	// sentinel: run redis-sentinel on dir/sentinel.conf
	sentinel bool
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is redis://host:port.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Binary returns the path of a Redis program, skipping or failing the test
// when it is not installed.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("AUTHGATE_TEST_REDIS") != "" {
			t.Fatalf("AUTHGATE_TEST_REDIS is set but %s is not installed", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// Start runs a redis-server without persistence on a free port, with the
// extra arguments (e.g. "--cluster-enabled", "yes"); it is stopped when
// the test ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	Binary(t, "redis-server")
	s := &Server{t: t, Port: FreePort(t), dir: t.TempDir(), args: extra}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	args := append([]string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no",
		"--logfile", filepath.Join(s.dir, "redis.log")}, s.args...)
	if s.sentinel {
		args = []string{filepath.Join(s.dir, "sentinel.conf"), "--logfile", filepath.Join(s.dir, "redis.log")}
		s.cmd = exec.Command("redis-sentinel", args...)
	} else {
		s.cmd = exec.Command("redis-server", args...)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server on %d did not start: %v\n%s", s.Port, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL: what it had in memory is lost).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart kills the server and starts it again on the same port, empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Do runs one command on the server or fails the test.
func (s *Server) Do(args ...any) any {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer c.Close()
	v, err := c.Do(ctx, args...).Result()
	if err != nil {
		s.t.Fatalf("redis %v: %v", args, err)
	}
	return v
}

// String is fmt.Sprint of the address, for logs.
func (s *Server) String() string { return fmt.Sprintf("redis-server %s", s.Addr()) }

// Cluster is a Redis Cluster of three primaries with one replica each.
type Cluster struct {
	Nodes []*Server
}

// Addrs are the nodes' addresses.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr())
	}
	return out
}

// StartCluster starts six nodes with cluster mode on, joins them with
// redis-cli --cluster create (one replica per primary) and waits until the
// cluster is ok on every node.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	cli := Binary(t, "redis-cli")
	c := &Cluster{}
	for i := 0; i < 6; i++ {
		c.Nodes = append(c.Nodes, Start(t, "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range c.Nodes {
		for {
			info, _ := n.Do("CLUSTER", "INFO").(string)
			if strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ok on %s:\n%s", n.Addr(), info)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return c
}

// Sentinel is a primary, its replica and three sentinels watching it.
type Sentinel struct {
	Primary, Replica *Server
	Sentinels        []*Server
	Master           string
}

// Addrs are the sentinels' addresses.
func (s *Sentinel) Addrs() []string {
	var out []string
	for _, n := range s.Sentinels {
		out = append(out, n.Addr())
	}
	return out
}

// StartSentinel starts a primary, a replica of it and three sentinels
// (quorum 2, down after 1 s) and waits until the sentinels see the replica.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	Binary(t, "redis-sentinel")
	s := &Sentinel{Master: "authgate-test"}
	s.Primary = Start(t)
	s.Replica = Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(s.Primary.Port))
	for i := 0; i < 3; i++ {
		n := &Server{t: t, Port: FreePort(t), dir: t.TempDir(), sentinel: true}
		conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n"+
			"sentinel parallel-syncs %s 1\n",
			n.Port, n.dir, s.Master, s.Primary.Port, s.Master, s.Master, s.Master)
		if err := os.WriteFile(filepath.Join(n.dir, "sentinel.conf"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		n.start()
		t.Cleanup(n.Stop)
		s.Sentinels = append(s.Sentinels, n)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range s.Sentinels {
		for {
			v, _ := n.Do("SENTINEL", "REPLICAS", s.Master).([]any)
			if len(v) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sentinel %s never saw the replica", n.Addr())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return s
}

package redisstore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"authgate/config"
)

func TestNewClientBuildsTheConfiguredKindOfClient(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "redis-password")
	if err := os.WriteFile(pwFile, []byte("from-file\r\nignored second line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  config.Redis
		// check inspects the client; nil when an error is wanted.
		check   func(t *testing.T, c redis.UniversalClient)
		wantErr string
	}{
		{
			name: "url with its own password and db",
			cfg:  config.Redis{URL: "redis://user:secret@localhost:6380/3", Password: "ignored", Timeout: 3 * time.Second},
			check: func(t *testing.T, c redis.UniversalClient) {
				o := c.(*redis.Client).Options()
				if o.Addr != "localhost:6380" || o.Username != "user" || o.Password != "secret" || o.DB != 3 {
					t.Errorf("options %s %s %s db %d", o.Addr, o.Username, o.Password, o.DB)
				}
				if o.ReadTimeout != 3*time.Second || o.WriteTimeout != 3*time.Second || o.DialTimeout != 3*time.Second || !o.ContextTimeoutEnabled {
					t.Errorf("timeouts %v %v %v %v", o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.ContextTimeoutEnabled)
				}
			},
		},
		{
			name: "url without password takes the password file and the db",
			cfg:  config.Redis{URL: "redis://localhost:6379", PasswordFile: pwFile, DB: 5},
			check: func(t *testing.T, c redis.UniversalClient) {
				o := c.(*redis.Client).Options()
				if o.Password != "from-file" || o.DB != 5 || o.ReadTimeout != defaultTimeout {
					t.Errorf("password %q db %d timeout %v", o.Password, o.DB, o.ReadTimeout)
				}
			},
		},
		{
			name: "sentinel",
			cfg:  config.Redis{Sentinel: config.Sentinel{Master: "mymaster", Addrs: []string{"s1:26379", "s2:26379"}}, Password: "pw"},
			check: func(t *testing.T, c redis.UniversalClient) {
				if _, ok := c.(*redis.Client); !ok {
					t.Errorf("client is %T, want a failover *redis.Client", c)
				}
			},
		},
		{
			name: "cluster",
			cfg:  config.Redis{ClusterAddrs: []string{"c1:7000", "c2:7000"}, PasswordFile: pwFile},
			check: func(t *testing.T, c redis.UniversalClient) {
				cc, ok := c.(*redis.ClusterClient)
				if !ok {
					t.Fatalf("client is %T, want *redis.ClusterClient", c)
				}
				if o := cc.Options(); o.Password != "from-file" || len(o.Addrs) != 2 || o.ReadTimeout != defaultTimeout {
					t.Errorf("options %q %v %v", o.Password, o.Addrs, o.ReadTimeout)
				}
			},
		},
		{name: "nothing set", cfg: config.Redis{}, wantErr: "exactly one"},
		{name: "url and cluster", cfg: config.Redis{URL: "redis://x", ClusterAddrs: []string{"a:1"}}, wantErr: "exactly one"},
		{name: "sentinel without master", cfg: config.Redis{Sentinel: config.Sentinel{Addrs: []string{"s:1"}}}, wantErr: "sentinel.master"},
		{name: "cluster with a db", cfg: config.Redis{ClusterAddrs: []string{"a:1"}, DB: 2}, wantErr: "db"},
		{name: "missing password file", cfg: config.Redis{URL: "redis://x", PasswordFile: filepath.Join(dir, "missing")}, wantErr: "password_file"},
		{name: "password and password file", cfg: config.Redis{URL: "redis://x", Password: "a", PasswordFile: pwFile}, wantErr: "not both"},
		{name: "bad url does not echo it", cfg: config.Redis{URL: "http://user:hunter2@host"}, wantErr: "url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.cfg)
			if tc.wantErr != "" {
				if err == nil {
					c.Close()
					t.Fatalf("NewClient succeeded, want an error about %s", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("NewClient = %v, want an error about %s without the password", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			defer c.Close()
			tc.check(t, c)
		})
	}
}

func TestNewClientFromURLReachesRedis(t *testing.T) {
	requireRedis(t)
	c, err := NewClient(config.Redis{URL: "redis://" + testAddr + "/15", Timeout: time.Second})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	s := New(c, newPrefix(t))
	defer s.Close()
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

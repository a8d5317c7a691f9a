package redisstore

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"authgate/config"
)

// defaultTimeout applies when cfg.Timeout is not set.
const defaultTimeout = 2 * time.Second

// NewClient builds the client cfg describes: from URL (redis:// or
// rediss://), from Sentinel (master name and sentinel addresses) or from
// ClusterAddrs; exactly one of them must be set. The password comes from
// Password or from the first line of PasswordFile (a URL's own password
// wins), and cfg.Timeout bounds dialing, every read and write, and waiting
// for a pooled connection. It does not connect: call Ping to find out.
func NewClient(cfg config.Redis) (redis.UniversalClient, error) {
	modes := 0
	for _, set := range []bool{cfg.URL != "", len(cfg.Sentinel.Addrs) > 0, len(cfg.ClusterAddrs) > 0} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return nil, errors.New("redis: set exactly one of url, sentinel.addrs and cluster_addrs")
	}
	password, err := readPassword(cfg)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	switch {
	case cfg.URL != "":
		opt, err := redis.ParseURL(cfg.URL)
		if err != nil {
			// The URL may carry a password: do not repeat it.
			return nil, errors.New("redis: url: invalid (want redis://[user:password@]host[:port][/db] or rediss://)")
		}
		if opt.Password == "" {
			opt.Password = password
		}
		if opt.Username == "" {
			opt.Username = cfg.Username
		}
		if cfg.DB != 0 {
			opt.DB = cfg.DB
		}
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = timeout, timeout, timeout, timeout
		opt.ContextTimeoutEnabled = true
		return redis.NewClient(opt), nil
	case len(cfg.Sentinel.Addrs) > 0:
		if cfg.Sentinel.Master == "" {
			return nil, errors.New("redis: sentinel.master: required with sentinel.addrs")
		}
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:            cfg.Sentinel.Master,
			SentinelAddrs:         cfg.Sentinel.Addrs,
			Username:              cfg.Username,
			Password:              password,
			DB:                    cfg.DB,
			DialTimeout:           timeout,
			ReadTimeout:           timeout,
			WriteTimeout:          timeout,
			PoolTimeout:           timeout,
			ContextTimeoutEnabled: true,
		}), nil
	default:
		if cfg.DB != 0 {
			return nil, errors.New("redis: db: Redis Cluster has only db 0")
		}
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:                 cfg.ClusterAddrs,
			Username:              cfg.Username,
			Password:              password,
			DialTimeout:           timeout,
			ReadTimeout:           timeout,
			WriteTimeout:          timeout,
			PoolTimeout:           timeout,
			ContextTimeoutEnabled: true,
		}), nil
	}
}

// readPassword returns cfg.Password, or the first line of cfg.PasswordFile.
func readPassword(cfg config.Redis) (string, error) {
	if cfg.PasswordFile == "" {
		return cfg.Password, nil
	}
	if cfg.Password != "" {
		return "", errors.New("redis: set password or password_file, not both")
	}
	raw, err := os.ReadFile(cfg.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("redis: password_file: %w", err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	return strings.TrimSuffix(line, "\r"), nil
}

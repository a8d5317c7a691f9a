package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"authgate/config"
	"authgate/gateway"
	"authgate/mail"
)

// reloadLoop reloads the config file on every SIGHUP, and when watch is
// set whenever the file changes on disk, until ctx ends. Reloads run one
// at a time, on this goroutine.
func reloadLoop(ctx context.Context, path string, watch bool, g *gateway.Gateway, opts gateway.Options, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var changed <-chan struct{}
	if watch {
		c, err := watchFile(ctx, path, log)
		if err != nil {
			// SIGHUP still works; say why the watch does not.
			log.Error("config watch: not watching the file; reload with SIGHUP", "file", path, "err", err.Error())
		} else {
			changed = c
			log.Info("config watch: reloading when the file changes", "file", path)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload(path, g, opts, log)
		case <-changed:
			reload(path, g, opts, log)
		}
	}
}

// watchSettle is how long the file must stay quiet after a change before
// it is reloaded: an editor or `kubectl` writes it in several steps
// (truncate, write, chmod, rename), and one reload of the finished file is
// wanted, not one of each step.
const watchSettle = 200 * time.Millisecond

// watchFile reports on the returned channel when the config file at path
// has new contents. It watches the file's directory, not the file: a save
// that renames a new file over the old one, and a Kubernetes ConfigMap
// update (which swaps the directory's "..data" symlink), replace the inode
// a watch on the file would follow. A change that leaves the bytes as they
// were (a touch, a chmod) reloads nothing.
func watchFile(ctx context.Context, path string, log *slog.Logger) (<-chan struct{}, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	dir, base := filepath.Split(filepath.Clean(path))
	if dir == "" {
		dir = "."
	}
	if err := w.Add(dir); err != nil {
		_ = w.Close()
		return nil, err
	}
	last := fileSum(path)
	out := make(chan struct{}, 1)
	go func() {
		defer w.Close()
		settle := time.NewTimer(time.Hour)
		settle.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if name := filepath.Base(ev.Name); name == base || name == "..data" {
					settle.Reset(watchSettle)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn("config watch", "file", path, "err", err.Error())
			case <-settle.C:
				sum := fileSum(path)
				if sum == last {
					continue
				}
				last = sum
				select {
				case out <- struct{}{}:
				default: // a reload is already due; it reads the newest file
				}
			}
		}
	}()
	return out, nil
}

// fileSum is the SHA-256 of the file's contents, or zero when it cannot be
// read (a missing file between a delete and a create; the reload itself
// reports a file that stays unreadable).
func fileSum(path string) [32]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(b)
}

// reload validates the file in full first; an invalid config leaves the
// running one in place and logs every problem with its YAML path.
func reload(path string, g *gateway.Gateway, opts gateway.Options, log *slog.Logger) {
	log.Info("config reload", "file", path)
	cfg, err := config.Load(path)
	if err != nil {
		var probs config.Problems
		if errors.As(err, &probs) {
			for _, p := range probs {
				if p.Warning {
					continue
				}
				log.Error("config reload: invalid config; the running config stays", "file", path, "problem", p.String())
			}
		} else {
			log.Error("config reload: the running config stays", "file", path, "err", err.Error())
		}
		g.ReloadFailed(err)
		return
	}
	opts.Mailer = nil
	if cfg.Mail.Driver == "smtp" {
		m, err := mail.NewSMTP(cfg.Mail)
		if err != nil {
			log.Error("config reload: the running config stays", "file", path, "field", "mail", "err", err.Error())
			g.ReloadFailed(err)
			return
		}
		opts.Mailer = m
	}
	kept, err := g.Reload(cfg, opts)
	if err != nil {
		log.Error("config reload: the running config stays", "file", path, "err", err.Error())
		return
	}
	if len(kept) > 0 {
		log.Warn("config reload: these settings cannot change while authgate runs and keep their running values; restart to change them", "settings", kept)
	}
	log.Info("config reloaded", "file", path)
}

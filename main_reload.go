package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"authgate/config"
	"authgate/gateway"
	"authgate/mail"
)

// reloadOnSIGHUP reloads the config file on every SIGHUP until ctx ends.
func reloadOnSIGHUP(ctx context.Context, path string, g *gateway.Gateway, opts gateway.Options, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload(path, g, opts, log)
		}
	}
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

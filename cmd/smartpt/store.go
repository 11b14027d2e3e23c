package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendorhttp"
)

// storeFlags select the store and the master key.
type storeFlags struct {
	dataDir       string
	databaseURL   string
	masterKeyFile string

	// vendorHTTP tunes the pool of vendor connections that open builds.
	vendorHTTP vendorhttp.Options

	// poolMaxConns is store.Options.PoolMaxConns.
	poolMaxConns int
}

// addStoreFlags adds --data, --database-url and --master-key-file, with
// defaults from SMARTPT_DATA_DIR, SMARTPT_DATABASE_URL and
// SMARTPT_MASTER_KEY_FILE.
func (c *cli) addStoreFlags(fs *flag.FlagSet) *storeFlags {
	s := &storeFlags{}
	fs.StringVar(&s.dataDir, "data", c.getenv("SMARTPT_DATA_DIR"), "data `DIR` holding the SQLite database, the master key file and the mail outbox (env SMARTPT_DATA_DIR)")
	fs.StringVar(&s.databaseURL, "database-url", c.getenv("SMARTPT_DATABASE_URL"), "PostgreSQL `URL` (postgres://...); replaces the SQLite database in --data (env SMARTPT_DATABASE_URL)")
	fs.StringVar(&s.masterKeyFile, "master-key-file", c.getenv("SMARTPT_MASTER_KEY_FILE"), "`FILE` holding the master key that seals credentials, unless SMARTPT_MASTER_KEY is set; default DIR/master.key, created when missing")
	return s
}

// app is an open store with the services built on it.
type app struct {
	db       *store.DB
	sealer   *secret.Sealer
	resolver *secret.Resolver
	tenants  *tenant.Service
	audit    *audit.Log
	pool     *vendorhttp.Pool
	logger   *slog.Logger
	dataDir  string
}

func (a *app) Close() error { return a.db.Close() }

// open opens and migrates the store and loads the master key.
func (s *storeFlags) open(ctx context.Context, getenv func(string) string, logger *slog.Logger) (*app, error) {
	if s.dataDir == "" && s.databaseURL == "" {
		return nil, usagef("no store: pass --data DIR for SQLite, or --database-url URL for PostgreSQL")
	}

	key, err := s.masterKey(getenv)
	if err != nil {
		return nil, err
	}
	sealer, err := secret.NewSealer(key)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}

	db, err := store.Open(ctx, store.Options{DataDir: s.dataDir, DatabaseURL: s.databaseURL, PoolMaxConns: s.poolMaxConns})
	if err != nil {
		return nil, err
	}

	resolver := &secret.Resolver{}
	return &app{
		db:       db,
		sealer:   sealer,
		resolver: resolver,
		tenants:  tenant.New(db, sealer, resolver),
		audit:    audit.New(db),
		pool:     vendorhttp.NewPoolWithOptions(logger, s.vendorHTTP),
		logger:   logger,
		dataDir:  s.dataDir,
	}, nil
}

// masterKey reads SMARTPT_MASTER_KEY, else the key file. With SQLite the key
// file defaults to DIR/master.key and is created on first use; PostgreSQL
// replicas must share one key, so it is never created for them.
func (s *storeFlags) masterKey(getenv func(string) string) ([]byte, error) {
	if env := getenv(secret.MasterKeyEnv); env != "" {
		return secret.LoadMasterKey(env, "")
	}
	if s.masterKeyFile != "" {
		return secret.LoadMasterKey("", s.masterKeyFile)
	}
	if s.databaseURL != "" {
		if s.dataDir == "" {
			return nil, errors.New("no master key: with --database-url, set SMARTPT_MASTER_KEY or --master-key-file to the key every replica shares")
		}
		return secret.LoadMasterKey("", filepath.Join(s.dataDir, "master.key"))
	}
	return secret.EnsureKeyFile(filepath.Join(s.dataDir, "master.key"))
}

// Command nullprovider is the benchmark's "no-I/O" floor: the real apphost
// provider over the real domain (core.Service), whose store is in memory
// (testutil/memstore) instead of a SQLite file, PostgreSQL or a server.
// Whatever it costs is the framework's, the provider's and the domain's; the
// difference to the real provider is the I/O.
//
// Terraform runs it through dev_overrides as terraform-provider-apphost and
// starts it anew for every command, so the store outlives the process as a
// snapshot file ($APPHOST_BENCH_MEMSTORE, default .apphost/bench-mem.gob,
// with its key file beside it): read once, at the first transaction, and
// written once, at exit, when a write committed. No call does I/O of its own.
//
// For benchmarks only: it ignores the provider configuration.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/apphost/terraform-provider-apphost/internal/core"
	"github.com/apphost/terraform-provider-apphost/internal/provider"
	"github.com/apphost/terraform-provider-apphost/internal/secretbox"
	"github.com/apphost/terraform-provider-apphost/internal/store"
	"github.com/apphost/terraform-provider-apphost/testutil/memstore"
)

func main() {
	debug := flag.Bool("debug", false, "serve in debug mode (prints TF_REATTACH_PROVIDERS)")
	flag.Parse()

	path := os.Getenv("APPHOST_BENCH_MEMSTORE")
	if path == "" {
		path = ".apphost/bench-mem.gob"
	}
	box, err := secretbox.LoadOrCreate(path + ".key")
	if err != nil {
		log.Fatal(err)
	}
	st := &snapshotStore{path: path}
	svc := core.NewService(st, box, core.Options{})
	err = providerserver.Serve(context.Background(), provider.NewWithBackend("bench-noio", svc),
		providerserver.ServeOpts{Address: "registry.terraform.io/apphost/apphost", Debug: *debug})
	if serr := st.save(); serr != nil {
		log.Printf("nullprovider: saving %s: %v", path, serr)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// snapshotStore is the in-memory store, loaded from its snapshot file at the
// first transaction: Terraform also starts the provider only to read its
// schema, which needs no store.
type snapshotStore struct {
	path string
	mu   sync.Mutex
	st   *memstore.Store // nil until loaded
}

var _ store.Store = (*snapshotStore)(nil)

func (s *snapshotStore) load() (*memstore.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st != nil {
		return s.st, nil
	}
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		s.st = memstore.New()
		return s.st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	defer func() { _ = f.Close() }()
	st, err := memstore.Load(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", store.ErrUnavailable, s.path, err)
	}
	s.st = st
	return st, nil
}

func (s *snapshotStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	st, err := s.load()
	if err != nil {
		return err
	}
	return st.Write(ctx, fn)
}

func (s *snapshotStore) Read(ctx context.Context, fn func(store.Tx) error) error {
	st, err := s.load()
	if err != nil {
		return err
	}
	return st.Read(ctx, fn)
}

// Close keeps the store: main saves it after the provider server stops.
func (s *snapshotStore) Close() error { return nil }

// save writes the snapshot file (through a temporary file and a rename)
// when a write committed since it was loaded.
func (s *snapshotStore) save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st == nil || s.st.Commits() == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = errors.Join(s.st.Save(w), w.Flush(), f.Close())
	if err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}

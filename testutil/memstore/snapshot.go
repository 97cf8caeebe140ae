package memstore

import (
	"encoding/gob"
	"fmt"
	"io"
)

// Save writes every table to w, as one consistent snapshot. The store does
// no I/O of its own: a caller that must keep it between processes (the
// benchmark's provider, which Terraform starts anew for every command) saves
// it once at exit and loads it once at start.
func (s *Store) Save(w io.Writer) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := gob.NewEncoder(w).Encode(&s.db); err != nil {
		return fmt.Errorf("save the in-memory store: %w", err)
	}
	return nil
}

// Load returns a store holding what Save wrote to r.
func Load(r io.Reader) (*Store, error) {
	// Gob sends no empty map: such a table keeps newTables' empty one.
	db := newTables()
	if err := gob.NewDecoder(r).Decode(&db); err != nil {
		return nil, fmt.Errorf("load the in-memory store: %w", err)
	}
	return &Store{db: db}, nil
}

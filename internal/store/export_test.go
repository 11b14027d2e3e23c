package store

// Hooks for the tests of package store_test.

// SavepointGroups returns how many transactions group commit has run with
// each call in a savepoint.
func (db *DB) SavepointGroups() uint64 { return db.group.savepointGroups.Load() }

// PendingCalls returns the number of InTx calls waiting for the committer.
func (db *DB) PendingCalls() int {
	db.group.mu.Lock()
	defer db.group.mu.Unlock()
	return len(db.group.pending)
}

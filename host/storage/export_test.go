package storage

import "context"

// Exec runs a statement on the store's database, for tests that leave rows
// as an older host did.
func Exec(ctx context.Context, s *Store, sql string, args ...any) error {
	return s.db.WithContext(ctx).Exec(sql, args...).Error
}

package storage

import "context"

// Exec runs a statement on the store's database, for tests that leave rows
// as an older host did.
func Exec(ctx context.Context, s *Store, sql string, args ...any) error {
	return s.db.WithContext(ctx).Exec(sql, args...).Error
}

// Count runs a query whose answer is one number, for tests that look at
// rows no method returns.
func Count(ctx context.Context, s *Store, sql string, args ...any) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(sql, args...).Scan(&n).Error
	return n, err
}

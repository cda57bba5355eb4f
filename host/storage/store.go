package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Drivers.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Store is the host's database handle. It is safe for concurrent use by
// many goroutines, and several processes may share one database.
type Store struct {
	db       *gorm.DB
	driver   string
	warnings []string
	sqlDB    *sql.DB
	prepared *preparedPool // nil on PostgreSQL
	// dsn is PostgreSQL's, for the LISTEN connection (authreqwatch.go).
	dsn   string
	watch watchers
}

// sqliteOpenRetry bounds how long Open tries again a SQLite file another
// process is switching to WAL.
const sqliteOpenRetry = 10 * time.Second

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	return strings.Contains(err.Error(), "SQLITE_BUSY") || strings.Contains(err.Error(), "database is locked")
}

// sqlitePool is how many connections one host keeps to SQLite.
const sqlitePool = 4

// postgresPool is how many connections one host keeps to PostgreSQL.
const postgresPool = 16

// migrationLockKey is the PostgreSQL advisory lock taken while migrating,
// so that hosts starting at once migrate one after the other.
const migrationLockKey = 0x706f7274 // "port"

// Open connects to the database and brings its schema up to date. A SQLite
// database file it creates is readable and writable by its owner only, and
// so are the -wal and -shm files beside it; what it finds open to other
// users it reports in Warnings.
func Open(ctx context.Context, driver, dsn string) (*Store, error) {
	var (
		dialector gorm.Dialector
		sqliteDSN string
		warnings  []string
	)
	switch driver {
	case SQLite:
		full, err := sqliteDriver.dsn(dsn)
		if err != nil {
			return nil, err
		}
		if warnings, err = prepareSQLiteFile(full); err != nil {
			return nil, err
		}
		dialector, sqliteDSN = sqliteDriver.open(full), full
	case Postgres:
		dialector = postgres.Open(dsn)
	default:
		return nil, fmt.Errorf("storage: unknown driver %q (want sqlite or postgres)", driver)
	}
	config := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
		TranslateError:         true,
	}
	db, err := gorm.Open(dialector, config)
	// Processes opening a new SQLite file at once (a host and a command, or
	// hosts starting together) race to switch it to WAL; the loser is told
	// SQLITE_BUSY at once, without the busy timeout. It tries again.
	for deadline := time.Now().Add(sqliteOpenRetry); err != nil && driver == SQLite && isBusy(err) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		if db != nil {
			if sqlDB, e := db.DB(); e == nil {
				_ = sqlDB.Close()
			}
		}
		db, err = gorm.Open(sqliteDriver.open(sqliteDSN), config)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: opening %s: %w", driver, err)
	}
	if err := db.Use(tracingPlugin{system: dbSystem(driver)}); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, sqlDB: sqlDB, driver: driver, warnings: warnings}
	if driver == Postgres {
		s.dsn = dsn
	}
	if driver == SQLite {
		// Every statement is parsed once, in transactions too
		// (prepared.go). pgx keeps a statement cache on each PostgreSQL
		// connection of its own, so PostgreSQL needs no pool of ours.
		s.prepared = newPreparedPool(sqlDB)
		db.ConnPool, db.Statement.ConnPool = s.prepared, s.prepared
		// SQLite has one writer; a few connections let reads run beside it.
		// They are kept: with database/sql's default of two idle
		// connections, the others were closed when a burst ended and
		// opened again at the next, each opening costing the files' opens,
		// the schema's reading and every statement's parse again (on a
		// busy host, dozens of times a second).
		sqlDB.SetMaxOpenConns(sqlitePool)
		sqlDB.SetMaxIdleConns(sqlitePool)
	} else {
		// A bounded pool that keeps its connections: without it a burst
		// opens a connection per query (the idle default is 2) and can
		// approach the server's max_connections from one host.
		sqlDB.SetMaxOpenConns(postgresPool)
		sqlDB.SetMaxIdleConns(postgresPool)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	if err := s.migrate(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.driver == Postgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrationLockKey).Error; err != nil {
				return err
			}
		}
		if err := tx.AutoMigrate(models...); err != nil {
			return err
		}
		if err := dropReplacedIndexes(tx); err != nil {
			return err
		}
		if err := clearExternalTokens(tx); err != nil {
			return err
		}
		return keyUsernames(tx)
	})
	if err != nil {
		return fmt.Errorf("storage: migrating the schema: %w", err)
	}
	return nil
}

// replacedIndexes are indexes of earlier versions that a partial index
// replaced (created by AutoMigrate under its own name before these are
// dropped). They indexed a column that is NULL when a row is written, so
// every login wrote a page of each for an entry no query reads: a session's
// secret hash (NULL for token sessions) and when a session or token was
// revoked.
var replacedIndexes = []string{"idx_sessions_secret_hash", "idx_sessions_revoked_at", "idx_tokens_revoked_at"}

// dropReplacedIndexes drops replacedIndexes where they still exist.
func dropReplacedIndexes(tx *gorm.DB) error {
	for _, name := range replacedIndexes {
		if err := tx.Exec("DROP INDEX IF EXISTS " + name).Error; err != nil {
			return fmt.Errorf("dropping index %s: %w", name, err)
		}
	}
	return nil
}

// models are the tables the host owns.
var models = []any{&userRow{}, &tokenRow{}, &sessionRow{}, &signingKeyRow{}, &kvRow{}, &outboxRow{}, &attemptRow{}, &reservationRow{}, &accessRow{}, &appKeyRow{},
	&adminRow{}, &adminSessionRow{}, &adminTokenRow{}, &roleRow{}, &rolePermissionRow{}, &userRoleRow{}, &authRequestRow{}, &oauth2FlowRow{}, &externalIdentityRow{}}

// Warnings returns the problems Open found that did not stop it, one
// sentence each, for the caller to log: a SQLite database whose directory
// or files other users can reach. It is empty on PostgreSQL.
func (s *Store) Warnings() []string { return s.warnings }

// Driver returns the driver name.
func (s *Store) Driver() string { return s.driver }

// Close closes the connections.
func (s *Store) Close() error {
	s.stopWatching()
	if s.prepared != nil {
		s.prepared.close()
	}
	return s.sqlDB.Close()
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Package appkeys makes and checks the keys that apps running beside the
// host authenticate with (`portcullis apps create NAME`).
//
// A key is "pck_" followed by 256 random bits in unpadded base64url (43
// characters). The store keeps only its hex SHA-256 (Hash); the key itself
// is shown once, when it is made, and is never written anywhere by the
// host.
//
// A Checker answers whether a presented key is a live app key. A key that
// is not even of the form of one (wrong prefix, length, or characters) is
// refused without reading the database. Every refusal, whatever its
// cause (malformed, unknown, revoked), is the one error ErrInvalidKey, so
// that an answer never tells whether a key exists. A database that cannot
// be read is another error (the caller fails closed, 503).
//
// A successful check is remembered in memory for a few seconds
// (DefaultCacheTTL, never more than MaxCacheTTL), keyed by the key's hash,
// so that an app's requests do not each cost a database read. The cost is
// that a revocation (`portcullis apps revoke`) takes effect on every host
// within that time, not at once. Failed checks are not remembered: a key
// made a moment ago works at once. The cache holds at most a bounded number
// of entries (DefaultCacheSize).
//
// The check is generic (Verifier) over the kind of key: its prefix, how a
// stored key is found by hash, and whether it is live, so that another
// kind of key (an admin token) is checked the same way. Checker is the
// Verifier of app keys.
package appkeys

// Package usernames decides what a username is. Every name that enters the
// host, from the command line (users add) and from the HTTP API (a login,
// before the chain runs), goes through Canonical, so that one name has one
// form: the one it is stored, looked up, counted by the lockout and logged
// by.
//
// The canonical form is the PRECIS UsernameCasePreserved profile (RFC
// 8265): full- and half-width forms are folded, the name is in Unicode
// Normalization Form C, it holds only letters, digits and printable ASCII,
// and it keeps the bidi rule (RFC 5893). Canonical refuses, with an *Error
// naming the first offending character: control and invisible characters
// (U+200B ZERO WIDTH SPACE, joiners, variation selectors...), bidirectional
// controls (U+202E), spaces, and a name that mixes scripts the way Unicode
// TS #39 calls "highly restrictive" does not allow (Latin with Cyrillic, say;
// a name wholly in one script, Cyrillic included, is valid, and digits and
// ASCII punctuation go with any script).
//
// Case is kept: "Alice" and "alice" are different names at login, as in
// Django. Key is the form two names are compared by when a user is created
// (UsernameCaseMapped: the canonical form in lower case), so that no two
// users differ only in case. docs/design/usernames.md gives the reasons.
//
// Quote and Display print a name for a terminal: a name that is not its own
// canonical form (one stored before these rules, say) is escaped, so that
// no name can hide characters or reorder the line it is printed on.
package usernames

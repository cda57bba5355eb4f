// Package config loads and checks the host's configuration file.
//
// Decoding is strict: an unknown key, a value of the wrong type or a bad
// setting is a Problem with its path (backends[1].config.failure_limit), and
// Load reports every problem in one run. ${NAME} in a value is replaced by
// the environment variable NAME. First-party plugins' settings are checked
// here too, without starting the plugin.
package config

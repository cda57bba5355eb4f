// Package config loads and checks the host's configuration file.
//
// Decoding is strict: an unknown key, a value of the wrong type or a bad
// setting is a Problem with its path (backends[1].config.failure_limit), and
// Load reports every problem in one run. ${NAME} in a value is replaced by
// the environment variable NAME. The file is turned into JSON with YAML's
// typing and checked by package strictjson against the structs' json tags,
// as a plugin's configuration and a request body are. First-party plugins'
// settings are checked here too, without starting the plugin.
package config

package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// refuseUnknown makes the whole command tree under root refuse what it does
// not know, so that a script never takes a typo for success. Cobra on its
// own prints help and exits 0 for an unknown subcommand of a command group
// (`portcullis users frobnicate`) and for an unknown help topic; here:
//
//   - every command group answers an argument that names no subcommand with
//     an error naming it (and cobra's suggestions), and with no argument at
//     all prints its help;
//   - `help` with an unknown topic is an error naming the topic;
//   - unknown flags are already cobra's errors, and leaf commands declare
//     their arguments (cobra.NoArgs, cobra.ExactArgs).
//
// It walks the tree as it is when called: call it after every command is
// added. Cobra's own completion command is added here too, so that it is
// walked like the others.
func refuseUnknown(root *cobra.Command) {
	root.SetHelpCommand(helpCmd())
	root.InitDefaultCompletionCmd()
	eachCommand(root, func(c *cobra.Command) {
		if c.HasSubCommands() && !c.Runnable() {
			c.Args = noSubcommand
			c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		}
	})
}

// eachCommand calls f on c and on every command under it, parents first.
func eachCommand(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		eachCommand(sub, f)
	}
}

// noSubcommand is the Args of a command group: any argument is an unknown
// subcommand.
func noSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return unknownCommand(c, args[0])
}

// unknownCommand is the error for name, which is no subcommand of c.
func unknownCommand(c *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2
	}
	if s := c.SuggestionsFor(name); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	if c.HasAvailableSubCommands() {
		msg += fmt.Sprintf(" (see %s --help)", c.CommandPath())
	}
	return fmt.Errorf("%s", msg)
}

// helpCmd is `portcullis help [command...]`: cobra's prints "Unknown help
// topic" and exits 0.
func helpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return fmt.Errorf("unknown help topic %q: %w", strings.Join(args, " "), unknownCommand(target, rest[0]))
			}
			return target.Help()
		},
	}
}

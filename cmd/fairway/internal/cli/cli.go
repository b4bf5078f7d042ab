// Package cli implements the fairway command: parsing, the commands, and
// their output as tables or JSON.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Exit codes, which scripts may rely on.
const (
	ExitOK          = 0 // success
	ExitError       = 1 // the operation failed
	ExitUsage       = 2 // bad command line or bad input (a name, a pattern, JSON)
	ExitNotFound    = 3 // no such queue (or dead letter)
	ExitUnavailable = 4 // Redis could not be reached (it answered nothing, not an error)
)

// Env is what a run of the command sees of the outside world.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// IsTerminal tells whether w is a terminal, for the progress bar.
	IsTerminal func(w io.Writer) bool
	// InputIsTerminal tells whether r (Stdin) is a terminal, where a
	// destructive command may ask for confirmation. Nil is never.
	InputIsTerminal func(r io.Reader) bool
}

// StdEnv is the process's standard streams and environment.
func StdEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, IsTerminal: isTerminal, InputIsTerminal: isInputTerminal}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// command is one subcommand. setup registers its flags and returns the
// function that runs it with the positional arguments.
type command struct {
	name    string
	args    string // positional arguments, for the usage line
	summary string
	help    string // more about it, for --help
	setup   func(fs *flag.FlagSet, a *app) func(ctx context.Context, args []string) error
}

func commands() []*command {
	return []*command{
		queuesCmd, statsCmd, facetsCmd, registerCmd, unregisterCmd, destroyCmd, partitionsCmd,
		deliverCmd, peekCmd, deadCmd, priorityCmd, limitCmd, rateLimitCmd, pauseCmd, resumeCmd,
		schedulesCmd, tailCmd, dashCmd, checkCmd, versionCmd,
	}
}

// Run runs the command line args (without the program name) and returns the
// exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			if c := findCommand(args[1]); c != nil {
				printCommandHelp(env.Stdout, c)
				return ExitOK
			}
		}
		printHelp(env.Stdout)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	c := findCommand(args[0])
	if c == nil {
		printf(env.Stderr, "fairway: unknown command %q\nRun 'fairway help' for the list of commands.\n", args[0])
		return ExitUsage
	}
	a := &app{env: env}
	defer a.close()
	fs := flag.NewFlagSet("fairway "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.globalFlags(fs)
	run := c.setup(fs, a)
	pos, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(env.Stdout, c)
		return ExitOK
	}
	if err == nil {
		err = a.checkGlobalFlags()
	}
	if err == nil {
		err = run(ctx, pos)
	}
	return report(env.Stderr, c, err)
}

// parseInterleaved parses flags anywhere among the positional arguments,
// so that "fairway stats emails --json" works. A negative number is a
// positional argument unless it is a flag's value; "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case len(arg) < 2 || arg[0] != '-' || isNumber(arg):
			pos = append(pos, arg)
		default:
			flags = append(flags, arg)
			name, _, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			if f := fs.Lookup(name); f != nil && !hasValue && !isBoolFlag(f) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	return pos, nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// printf writes to w; output to the terminal has nowhere to report its
// errors.
func printf(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}

func findCommand(name string) *command {
	i := slices.IndexFunc(commands(), func(c *command) bool { return c.name == name })
	if i < 0 {
		return nil
	}
	return commands()[i]
}

func printHelp(w io.Writer) {
	printf(w, `fairway: inspect and operate Fairway queues on Redis.

Usage: fairway COMMAND [ARGS] [FLAGS]

Commands:
`)
	for _, c := range commands() {
		printf(w, "  %-11s %s\n", c.name, c.summary)
	}
	printf(w, `
Flags of every command:
  --redis URL        Redis to use: redis://[:PASSWORD@]HOST:PORT/DB, or rediss:// for TLS
                     (default $REDIS_URL, else redis://127.0.0.1:6379/0)
  --namespace NS     key namespace of the application (default $FAIRWAY_NAMESPACE, else "fairway")
  --json             print JSON instead of tables
  --timeout D        give up on Redis after D (default 10s; dash and tail run until stopped)

Exit codes: 0 ok, 1 failed (Redis answered with an error), 2 bad usage or input, 3 not found
(queue, dead letter, schedule), 4 Redis unreachable.
Run 'fairway help COMMAND' or 'fairway COMMAND --help' for more.
`)
}

func printCommandHelp(w io.Writer, c *command) {
	printf(w, "Usage: fairway %s %s\n\n%s\n", c.name, c.args, c.summary)
	if c.help != "" {
		printf(w, "\n%s\n", strings.TrimSpace(c.help))
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	a := &app{}
	a.globalFlags(fs)
	c.setup(fs, a)
	printf(w, "%s\n", "\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

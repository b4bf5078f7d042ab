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
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/fairwayhq/fairway/internal/flaghelp"
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
		deliverCmd, peekCmd, deadCmd, priorityCmd, limitCmd, orderCmd, concurrencyCmd, capCmd, attemptsCmd, ttlCmd, rateLimitCmd, migrateCmd, pauseCmd, resumeCmd,
		schedulesCmd, tailCmd, dashCmd, checkCmd, versionCmd,
	}
}

// Run runs the command line args (without the program name) and returns the
// exit code.
func Run(ctx context.Context, args []string, env Env) int {
	a := &app{env: env}
	defer a.close()
	wantJSON := jsonAsked(args)
	a.json = wantJSON
	globals, rest, err := leadingGlobals(args)
	if err != nil {
		return a.report("", err)
	}
	if len(rest) == 0 && a.json {
		return a.report("", usageError{"no command given"})
	}
	if len(rest) == 0 || isHelpArg(rest[0]) {
		if len(rest) > 1 {
			if c := findCommand(rest[1]); c != nil {
				printCommandHelp(env, c)
				return ExitOK
			}
		}
		printHelp(env.Stdout)
		if len(rest) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	c := findCommand(rest[0])
	if c == nil {
		return a.report("", usageError{fmt.Sprintf("unknown command %q", rest[0])})
	}
	fs := flag.NewFlagSet("fairway "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.globalFlags(fs)
	run := c.setup(fs, a)
	// The global flags given before the command come first, so that the
	// same flag after it wins.
	pos, err := parseInterleaved(fs, append(globals, rest[1:]...))
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(env, c)
		return ExitOK
	}
	if err != nil {
		a.json = wantJSON // parsing stopped early: --json may be past the bad flag
	}
	if err == nil {
		err = a.checkGlobalFlags()
	}
	if err == nil {
		err = run(ctx, pos)
	}
	return a.report(c.name, err)
}

func isHelpArg(s string) bool {
	return s == "help" || s == "-h" || s == "--help" || s == "-help"
}

// jsonAsked tells whether args hold --json (or --json=true), for errors
// found before the flags are parsed, or that stop their parsing.
func jsonAsked(args []string) bool {
	on := false
	for _, arg := range args {
		if arg == "--" {
			break
		}
		name, v, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !strings.HasPrefix(arg, "-") || name != "json" {
			continue
		}
		on = true
		if hasValue {
			on, _ = strconv.ParseBool(v)
		}
	}
	return on
}

// leadingGlobals splits off the global flags given before the command
// ("fairway --json --redis URL queues"), with their values. Any other flag
// there is a usage error: a command's own flags come after it.
func leadingGlobals(args []string) (globals, rest []string, err error) {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	(&app{}).globalFlags(fs)
	i := 0
	for ; i < len(args); i++ {
		arg := args[i]
		if len(arg) < 2 || arg[0] != '-' || arg == "--" || isHelpArg(arg) {
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		f := fs.Lookup(name)
		if f == nil {
			return nil, nil, usageError{fmt.Sprintf("%s before the command is not a global flag (--redis, --namespace, --json, --timeout); give a command's own flags after it", arg)}
		}
		globals = append(globals, arg)
		if !hasValue && !isBoolFlag(f) {
			if i+1 == len(args) {
				return nil, nil, usageError{fmt.Sprintf("flag needs an argument: --%s", name)}
			}
			i++
			globals = append(globals, args[i])
		}
	}
	return globals, args[i:], nil
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
		return nil, usageError{longFlags(err.Error())}
	}
	return pos, nil
}

// flagName is a flag as the flag package names it in errors ("-top").
var flagName = regexp.MustCompile(`(^|\s)-([A-Za-z][A-Za-z0-9-]+)`)

// longFlags spells the flag package's "-top" as "--top" in msg, as the
// help does.
func longFlags(msg string) string {
	return flagName.ReplaceAllString(msg, "$1--$2")
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

Usage: fairway [GLOBAL FLAGS] COMMAND [ARGS] [FLAGS]

Commands:
`)
	for _, c := range commands() {
		printf(w, "  %-11s %s\n", c.name, c.summary)
	}
	printf(w, `
Global flags, before or after the command:
  --redis URL        Redis to use: redis://[:PASSWORD@]HOST:PORT/DB, or rediss:// for TLS
                     (default $REDIS_URL, else redis://127.0.0.1:6379/0)
  --namespace NS     key namespace of the application (default $FAIRWAY_NAMESPACE, else "fairway")
  --json             print JSON instead of tables, and errors as {"error": {...}} on stderr
  --timeout D        give up on Redis after D (default 10s; dash and tail run until stopped)

Exit codes: 0 ok, 1 failed (Redis answered with an error), 2 bad usage or input, 3 not found
(queue, facet, dead letter, schedule), 4 Redis unreachable.
Run 'fairway help COMMAND' or 'fairway COMMAND --help' for more, with the defaults in effect.
`)
}

// printCommandHelp prints c's usage and flags, with the defaults in effect
// under env (a $REDIS_URL's, its password hidden).
func printCommandHelp(env Env, c *command) {
	w := env.Stdout
	printf(w, "Usage: fairway %s %s\n\n%s\n", c.name, c.args, c.summary)
	if c.help != "" {
		printf(w, "\n%s\n", strings.TrimSpace(c.help))
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	a := &app{env: env}
	a.globalFlags(fs)
	c.setup(fs, a)
	global := flag.NewFlagSet("", flag.ContinueOnError)
	(&app{env: env}).globalFlags(global)
	var own, globals []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if global.Lookup(f.Name) != nil {
			globals = append(globals, f)
		} else {
			own = append(own, f)
		}
	})
	if len(own) > 0 {
		printf(w, "\nFlags:\n")
		for _, f := range own {
			printFlag(w, f)
		}
	}
	printf(w, "\nGlobal flags (before or after the command):\n")
	for _, f := range globals {
		printFlag(w, f)
	}
}

// secretDefaults hide the defaults of flags that may hold a secret, which
// come from the environment.
var secretDefaults = map[string]func(string) string{
	"redis":      flaghelp.RedactURL,
	"token":      hiddenDefault,
	"basic-auth": hiddenDefault,
}

func hiddenDefault(string) string { return "hidden, set by the environment" }

// printFlag prints one flag with flaghelp, a default that may hold a
// secret hidden.
func printFlag(w io.Writer, f *flag.Flag) {
	def := f.DefValue
	if hide, ok := secretDefaults[f.Name]; ok && def != "" {
		def = hide(def)
	}
	flaghelp.Print(w, f, def)
}

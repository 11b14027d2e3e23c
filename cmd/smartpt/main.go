// Command smartpt is the SmartPT security action gateway: the API server,
// the demo, and the administration of companies, keys, integrations,
// guardrails and the audit trail.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// cli carries the process's outputs and environment, so that tests can run
// commands in-process.
type cli struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	// listening, when set, is called with the API's base URL and the demo
	// company key once the demo serves requests.
	listening func(baseURL, key string)
}

const usage = `smartpt is a security action gateway.

Usage:
  smartpt serve [--config FILE] [--data DIR | --database-url URL]
  smartpt demo [--data DIR] [--addr HOST:PORT]
  smartpt company create|list|disable|enable [NAME]
  smartpt key rotate|revoke|list COMPANY [KEY_ID]
  smartpt integration set|delete|list|test COMPANY [flags]
  smartpt audit list|verify COMPANY [flags]
  smartpt guard [--data DIR | --database-url URL] protect|cap ...
  smartpt version

Every command that uses the store takes --data DIR (SQLite) or
--database-url URL (PostgreSQL). Commands that change a company take
--by NAME, the operator recorded in the company's audit trail (default
$USER). Run "smartpt COMMAND -h" for its subcommands and flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal starts the graceful shutdown, a second one
		// ends the process at once.
		<-ctx.Done()
		stop()
	}()

	setHeapSampling(os.Getenv("SMARTPT_PPROF_ADDR"))

	c := &cli{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(c.run(ctx, os.Args[1:]))
}

// run runs one command and returns the process exit code: 0 on success, 1 on
// failure, 2 on a usage error.
func (c *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usage)
		return 2
	}

	commands := map[string]func(context.Context, []string) error{
		"serve":       c.serve,
		"demo":        c.demo,
		"company":     c.company,
		"key":         c.key,
		"integration": c.integration,
		"audit":       c.audit,
		"guard":       c.guard,
		"version":     c.version,
	}
	cmd, ok := commands[args[0]]
	if !ok {
		if isHelp(args[0]) {
			fmt.Fprint(c.stdout, usage)
			return 0
		}
		fmt.Fprintf(c.stderr, "smartpt: unknown command %q\n\n%s", args[0], usage)
		return 2
	}

	err := cmd(ctx, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(c.stderr, "smartpt %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(c.stderr, "smartpt %s: %v\n", args[0], err)
		return 1
	}
}

// usageError is a command line the command cannot run.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// isHelp reports whether arg asks for help instead of naming a subcommand.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// printHelp writes a command's usage to stdout and returns flag.ErrHelp, so
// that run exits 0.
func (c *cli) printHelp(text string) error {
	fmt.Fprint(c.stdout, text)
	return flag.ErrHelp
}

func (c *cli) version(ctx context.Context, args []string) error {
	fmt.Fprintf(c.stdout, "smartpt %s\n", version)
	return nil
}

// newFlags returns a flag set that writes its help to stderr and returns
// errors instead of exiting.
func (c *cli) newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: smartpt %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, allowing flags after positional arguments (as in
// "company create acme --data DIR"), and returns the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	// "help" as the first argument asks for the usage, as -h does, rather
	// than naming a company called help.
	if len(args) > 0 && args[0] == "help" {
		fs.Usage()
		return nil, flag.ErrHelp
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

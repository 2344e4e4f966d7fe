package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The config file maps every flag of a command (its own and inherited,
// minus the ones below) to a TOML key of the same name and an environment
// variable MRCI_<NAME> (upper case, - as _). Precedence: a flag given on
// the command line, else the environment, else the file, else the flag's
// default. Flags added to `serve` by any file are covered without further
// code.

// notConfigurable are the flags the file and the environment do not set.
var notConfigurable = []string{"help", "config", "print-config", "version"}

// secretFlags are printed as "(redacted)" by --print-config.
var secretFlags = []string{"cluster-password", "cluster-token"}

// configSource records where each flag's value came from.
type configSource map[string]string

// configFile returns the config file to read: the --config flag, else
// MRCI_CONFIG, else mrci.toml in the data directory when it exists.
func configFile(opts *options, flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("MRCI_CONFIG"); env != "" {
		return env
	}
	p := filepath.Join(opts.dataDir, "mrci.toml")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// envName is the environment variable of a flag.
func envName(flag string) string {
	return "MRCI_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyConfig sets every configurable flag of cmd that was not given on
// the command line from the environment or the file at path ("" for none).
func applyConfig(cmd *cobra.Command, path string) (configSource, error) {
	return applyConfigKeys(cmd, path, nil)
}

// applyConfigKeys is applyConfig for the flags named in only (nil: all);
// with only, other keys of the file are left to the commands they belong
// to instead of being errors.
func applyConfigKeys(cmd *cobra.Command, path string, only []string) (configSource, error) {
	src := configSource{}
	var file map[string]any
	var raw []byte
	if path != "" {
		var err error
		if raw, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		if _, err := toml.Decode(string(raw), &file); err != nil {
			var pe toml.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("config file %s line %d: %s", path, pe.Position.Line, pe.Message)
			}
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	flags := cmd.Flags()
	// Unknown keys are errors, so a typo is not silently ignored.
	keys := make([]string, 0, len(file))
	for k := range file {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if only != nil {
			break
		}
		if f := flags.Lookup(k); f == nil || slices.Contains(notConfigurable, k) {
			return nil, fmt.Errorf("config file %s line %d: unknown key %q", path, keyLine(raw, k), k)
		}
	}
	var err error
	flags.VisitAll(func(f *pflag.Flag) {
		if err != nil || slices.Contains(notConfigurable, f.Name) || (only != nil && !slices.Contains(only, f.Name)) {
			return
		}
		switch {
		case f.Changed:
			src[f.Name] = "flag"
		case os.Getenv(envName(f.Name)) != "":
			if e := f.Value.Set(os.Getenv(envName(f.Name))); e != nil {
				err = fmt.Errorf("environment %s: %w", envName(f.Name), e)
				return
			}
			f.Changed = true
			src[f.Name] = "env " + envName(f.Name)
		case file[f.Name] != nil:
			e := setFromTOML(f, file[f.Name])
			if e != nil {
				err = fmt.Errorf("config file %s line %d: key %q: %w", path, keyLine(raw, f.Name), f.Name, e)
				return
			}
			f.Changed = true
			src[f.Name] = "file"
		default:
			src[f.Name] = "default"
		}
	})
	return src, err
}

// setFromTOML sets a flag from a decoded TOML value; an array sets a
// slice or array flag element by element (the first replaces the default).
func setFromTOML(f *pflag.Flag, v any) error {
	arr, ok := v.([]any)
	if !ok {
		text, err := tomlText(v)
		if err != nil {
			return err
		}
		return f.Value.Set(text)
	}
	if _, slice := f.Value.(pflag.SliceValue); !slice {
		return fmt.Errorf("an array is not a %s value", f.Value.Type())
	}
	for _, e := range arr {
		text, err := tomlText(e)
		if err != nil {
			return err
		}
		if err := f.Value.Set(text); err != nil {
			return err
		}
	}
	return nil
}

// tomlText turns a decoded TOML value into flag text.
func tomlText(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case time.Time:
		return v.Format(time.RFC3339), nil
	}
	return "", fmt.Errorf("a %T value is not supported (tables are not keys of this file)", v)
}

// keyLine finds the line of a top-level key in the file (0 if not found).
func keyLine(raw []byte, key string) int {
	q := regexp.QuoteMeta(key)
	re := regexp.MustCompile(`^\s*(\[+\s*)?(` + q + `|"` + q + `"|'` + q + `')\s*[=.\]]`)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		if re.MatchString(sc.Text()) {
			return n
		}
	}
	return 0
}

// printConfig writes the effective configuration as a TOML file, each key
// with where its value came from.
func printConfig(w io.Writer, cmd *cobra.Command, src configSource) error {
	var b strings.Builder
	b.WriteString("# effective configuration of `mrci serve` (flags > environment > file > defaults)\n")
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if slices.Contains(notConfigurable, f.Name) {
			return
		}
		v, note := tomlValue(f), ""
		switch {
		case slices.Contains(secretFlags, f.Name) && f.Value.String() != "":
			v, note = tomlString("(redacted)"), ", redacted"
		case f.Name == "database" && redactDSN(f.Value.String()) != f.Value.String():
			v, note = tomlString(redactDSN(f.Value.String())), ", password redacted"
		}
		fmt.Fprintf(&b, "%s = %s # %s%s\n", f.Name, v, src[f.Name], note)
	})
	_, err := io.WriteString(w, b.String())
	return err
}

// tomlValue renders a flag's value as a TOML value.
func tomlValue(f *pflag.Flag) string {
	v := f.Value.String()
	switch f.Value.Type() {
	case "bool":
		return v
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return v
	case "stringSlice", "stringArray", "intSlice", "uintSlice", "boolSlice":
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			items := sv.GetSlice()
			quoted := make([]string, len(items))
			for i, it := range items {
				quoted[i] = tomlString(it)
			}
			return "[" + strings.Join(quoted, ", ") + "]"
		}
	}
	return tomlString(v)
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

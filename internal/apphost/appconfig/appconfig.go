// Package appconfig reads and writes app.config, the settings file an App
// Host gives each app, in SOAR's format: one "key = value" line per setting.
// Besides the app's own config it holds, for each app secret, the line
// "NAME = $NAME" (SOAR's reference to a protected secret, whose value is in
// secrets/NAME), and for each secret bound to an API key account, the line
// "NAME_api_key_id = ID".
package appconfig

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// FileName is the file's name in the app's directory.
const FileName = "app.config"

// SecretsDir is the directory, in the app's directory, of the secret files.
const SecretsDir = "secrets"

// KeyIDSuffix ends the key that gives a bound secret's API key account.
const KeyIDSuffix = "_api_key_id"

// SecretRef is the value of a secret's own line: "$NAME".
func SecretRef(name string) string { return "$" + name }

// KeyIDKey is the key of the line that gives secret name's account ID.
func KeyIDKey(name string) string { return name + KeyIDSuffix }

const header = "# app.config: written by the App Host at each start and reload; edits are overwritten.\n"

// CheckKey reports why k cannot be a key of app.config, or nil.
func CheckKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("an app.config key must not be empty")
	case strings.ContainsAny(k, "=\r\n\x00"):
		return fmt.Errorf("app.config key %q must not contain '=', a line break or a NUL byte", k)
	case strings.TrimSpace(k) != k:
		return fmt.Errorf("app.config key %q must not start or end with white space", k)
	case strings.HasPrefix(k, "#"):
		return fmt.Errorf("app.config key %q must not start with '#' (a comment line)", k)
	}
	return nil
}

// CheckValue reports why the value of key k cannot be written, or nil.
func CheckValue(k, v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("the value of app.config key %q must not contain a line break or a NUL byte", k)
	}
	return nil
}

// Render writes settings as app.config, sorted by key. Every key and value
// must pass CheckKey and CheckValue.
func Render(settings map[string]string) ([]byte, error) {
	keys := make([]string, 0, len(settings))
	for k, v := range settings {
		if err := CheckKey(k); err != nil {
			return nil, err
		}
		if err := CheckValue(k, v); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	b.WriteString(header)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(" = ")
		b.WriteString(settings[k])
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// Parse reads app.config: "key = value" lines; blank lines and lines that
// start with '#' are skipped. The value is what follows the first '=' and
// one space; a key is trimmed of white space. A key given twice is an error.
func Parse(data []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s line %d: want \"key = value\", found no '='", FileName, n)
		}
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("%s line %d: the key before '=' is empty", FileName, n)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s line %d: key %q is given twice", FileName, n, k)
		}
		out[k] = strings.TrimPrefix(v, " ")
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", FileName, err)
	}
	return out, nil
}

// Bound returns the bound secrets that settings name: secret name to API key
// account ID, from the NAME_api_key_id lines.
func Bound(settings map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range settings {
		if name, ok := strings.CutSuffix(k, KeyIDSuffix); ok && name != "" && v != "" {
			out[name] = v
		}
	}
	return out
}

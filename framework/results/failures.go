package results

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"
)

// FailuresDir is the directory of a run's artifacts that holds, for each
// feature that failed, what the suite saw of its namespace when the feature
// ended (pods, their events and logs, the probe's last reports): the
// report links a failed row to its feature's file there.
const FailuresDir = "failures"

// FailureFile is the path, relative to a run's artifacts directory, of the
// failure file of a feature, named by its go test name (TestXxx/feature).
// Characters a file name should not hold become '_', the '/' between test
// and feature "__"; a name too long for a file name is cut and keeps a
// hash of the whole.
func FailureFile(feature string) string {
	var b strings.Builder
	for _, r := range feature {
		switch {
		case r == '/':
			b.WriteString("__")
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > 180 {
		sum := sha256.Sum256([]byte(feature))
		name = name[:180] + "-" + hex.EncodeToString(sum[:6])
	}
	return path.Join(FailuresDir, name+".txt")
}

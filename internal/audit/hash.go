package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"

	"github.com/smartpt/smartpt/internal/store"
)

// hashDomain starts every hashed encoding, so that the format can change
// under a new label without old and new hashes colliding.
const hashDomain = "smartpt audit event v1"

// hashEvent returns the hex SHA-256 of the canonical encoding of ev: the
// domain label, then every field in a fixed order, each as an 8-byte
// big-endian length followed by its bytes. Numbers are written in decimal
// and the time as Unix nanoseconds. Length prefixes make the encoding
// unambiguous: no two different events encode to the same bytes.
func hashEvent(ev Event) string {
	h := sha256.New()
	var lenBuf [8]byte
	write := func(s string) {
		binary.BigEndian.PutUint64(lenBuf[:], uint64(len(s)))
		h.Write(lenBuf[:])
		h.Write([]byte(s))
	}

	write(hashDomain)
	write(strconv.FormatInt(ev.Seq, 10))
	write(ev.CompanyID)
	write(strconv.FormatInt(store.UnixNanos(ev.Time), 10))
	write(ev.Type)
	write(ev.ActionID)
	write(ev.Requester)
	write(ev.ClientAddr)
	write(ev.RequestID)
	write(ev.Route)
	write(ev.Action)
	write(ev.Target)
	write(ev.Result)
	write(ev.VendorRef)
	write(strconv.FormatInt(ev.DurationMS, 10))
	write(ev.Detail)
	write(ev.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}

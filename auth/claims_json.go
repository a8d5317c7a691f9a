package auth

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxNumericDate is the largest exp, nbf or iat accepted: the year 9999. A
// larger number is not a date (and 1e300 seconds does not fit a time.Time).
const maxNumericDate = 253402300799

var errNumericDate = errors.New("exp, nbf, iat and auth_time must be JSON numbers of seconds (RFC 7519 NumericDate)")

// UnmarshalJSON decodes the claims with exp, nbf, iat and auth_time held to RFC 7519:
// a JSON number, never a string, null or anything else. golang-jwt reads
// them through json.Number, which also takes "1796196785" in quotes; a
// token spelled that way was not issued by authgate. Every other claim is
// typed by encoding/json (a sub, sid or roles of the wrong type fails).
func (c *Claims) UnmarshalJSON(b []byte) error {
	type plain Claims // the fields without this method
	aux := struct {
		*plain
		// Shallower than the embedded RegisteredClaims' fields of the same
		// name, so these receive the raw values instead.
		Exp json.RawMessage `json:"exp"`
		Nbf json.RawMessage `json:"nbf"`
		Iat json.RawMessage `json:"iat"`
		// Shallower than Claims.AuthTime, for the same reason.
		AuthTime json.RawMessage `json:"auth_time"`
	}{plain: (*plain)(c)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	var err error
	if c.ExpiresAt, err = numericDate(aux.Exp); err != nil {
		return err
	}
	if c.NotBefore, err = numericDate(aux.Nbf); err != nil {
		return err
	}
	if c.IssuedAt, err = numericDate(aux.Iat); err != nil {
		return err
	}
	c.AuthTime, err = numericDate(aux.AuthTime)
	return err
}

// numericDate reads a NumericDate: nil when the claim is absent, an error
// unless it is a JSON number from 0 to maxNumericDate. Fractions are kept
// as golang-jwt keeps them (truncated to its TimePrecision).
func numericDate(raw json.RawMessage) (*jwt.NumericDate, error) {
	if raw == nil {
		return nil, nil
	}
	// raw is one valid JSON value: a number starts with '-' or a digit.
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return nil, errNumericDate
	}
	var secs int64
	whole := true
	for _, ch := range raw {
		if ch < '0' || ch > '9' || secs > maxNumericDate {
			whole = false
			break
		}
		secs = secs*10 + int64(ch-'0')
	}
	if whole {
		if secs > maxNumericDate {
			return nil, errNumericDate
		}
		return jwt.NewNumericDate(time.Unix(secs, 0)), nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f > maxNumericDate {
		return nil, errNumericDate
	}
	if f < 0 {
		f = 0 // before 1970: as expired as any date can be
	}
	round, frac := math.Modf(f)
	return jwt.NewNumericDate(time.Unix(int64(round), int64(frac*1e9))), nil
}

// checkRoles refuses role names that could not have been issued: empty, or
// holding a comma, white space or a control character, which would change
// what the X-User-Roles header says.
func checkRoles(roles []string) error {
	for _, r := range roles {
		if r == "" {
			return errors.New("empty role name")
		}
		for i := 0; i < len(r); i++ {
			if ch := r[i]; ch == ',' || ch <= ' ' || ch == 0x7f {
				return errors.New("role name with a comma, space or control character")
			}
		}
	}
	return nil
}

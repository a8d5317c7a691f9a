package auth

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzNumericDateAgreesWithGolangJWT: for every JSON number in range, the
// strict reader gives the date golang-jwt gives; anything that is not a
// JSON number is refused, including what golang-jwt would take.
func FuzzNumericDateAgreesWithGolangJWT(f *testing.F) {
	for _, s := range []string{"0", "1796196785", `"1796196785"`, "1796196785.5", "1.7e9", "-1", "-0.5", "1e300",
		"253402300799", "253402300800", "null", "true", `[1]`, `{}`, "00012", "0.000000001", "9999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// A RawMessage from the decoder is the value exactly, without the
		// white space around it.
		s = strings.Trim(s, " \t\r\n")
		if !json.Valid([]byte(s)) {
			return
		}
		got, err := numericDate(json.RawMessage(s))
		var v any
		uerr := json.Unmarshal([]byte(s), &v) // a number beyond float64 fails
		f64, isNumber := v.(float64)
		if !isNumber || uerr != nil {
			if err == nil {
				t.Fatalf("%q (%T) accepted as %v", s, v, got)
			}
			return
		}
		if f64 > maxNumericDate {
			if err == nil {
				t.Fatalf("%q beyond year 9999 accepted", s)
			}
			return
		}
		if err != nil {
			t.Fatalf("number %q refused: %v", s, err)
		}
		if f64 < 0 {
			if got.Unix() != 0 {
				t.Fatalf("negative %q read as %v", s, got)
			}
			return
		}
		var want jwt.NumericDate
		if err := want.UnmarshalJSON([]byte(s)); err != nil {
			t.Fatalf("golang-jwt refuses %q: %v", s, err)
		}
		if !got.Equal(want.Time) {
			t.Fatalf("%q: strict %v, golang-jwt %v", s, got.Time, want.Time)
		}
	})
}

// FuzzClaimsAuthTimeIsANumericDate: auth_time in a whole claims object is
// read exactly as the strict NumericDate reader reads it, and claims that
// decode survive encoding and decoding again unchanged.
func FuzzClaimsAuthTimeIsANumericDate(f *testing.F) {
	for _, s := range []string{"1700000000", `"1700000000"`, "null", "1.5", "-3", "1e300", "[]", `{"a":1}`, "true"} {
		f.Add(s, `["pwd","otp"]`)
	}
	f.Add("1700000000", `"otp"`)
	f.Add("1700000000", `null`)
	f.Fuzz(func(t *testing.T, authTime, amr string) {
		authTime, amr = strings.Trim(authTime, " \t\r\n"), strings.Trim(amr, " \t\r\n")
		if !json.Valid([]byte(authTime)) || !json.Valid([]byte(amr)) {
			return
		}
		var c Claims
		err := json.Unmarshal([]byte(`{"sub":"u","auth_time":`+authTime+`,"amr":`+amr+`}`), &c)
		want, werr := numericDate(json.RawMessage(authTime))
		var amrs []string
		aerr := json.Unmarshal([]byte(amr), &amrs)
		if (err == nil) != (werr == nil && aerr == nil) {
			t.Fatalf("auth_time %s amr %s: claims err %v; numericDate err %v, amr err %v", authTime, amr, err, werr, aerr)
		}
		if err != nil {
			return
		}
		if !c.AuthTime.Equal(want.Time) {
			t.Fatalf("auth_time %s read as %v, want %v", authTime, c.AuthTime, want)
		}
		b, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		var again Claims
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		if !again.AuthTime.Equal(c.AuthTime.Time) || strings.Join(again.AMR, "\x00") != strings.Join(c.AMR, "\x00") {
			t.Fatalf("round trip of %s changed it: %+v", b, again)
		}
	})
}

// Command jwtcheck is the "home-made checker" scripts/bench.sh compares
// authgate's forward-auth with: a minimal nginx auth_request endpoint that
// verifies an EdDSA access token (signature, exp, iss, aud) with authgate's
// generated key and answers 200 or 401. It does no revocation, rules or
// identity headers; it is for measurement only.
package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18090", "address")
	keyFile := flag.String("key", "data/keys/ed25519.pem", "authgate's generated Ed25519 key (PKCS#8 PEM)")
	flag.Parse()
	raw, err := os.ReadFile(*keyFile)
	if err != nil {
		log.Fatal(err)
	}
	blk, _ := pem.Decode(raw)
	if blk == nil {
		log.Fatal("no PEM block in ", *keyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		log.Fatal(err)
	}
	pub := k.(ed25519.PrivateKey).Public()
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("authgate"),
		jwt.WithAudience("authgate"), jwt.WithExpirationRequired())
	keyfunc := func(*jwt.Token) (any, error) { return pub, nil }
	log.Fatal(http.ListenAndServe(*listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if _, err := parser.Parse(tok, keyfunc); !ok || err != nil {
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	})))
}

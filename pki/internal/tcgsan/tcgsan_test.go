package tcgsan

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

func TestMarshalParseRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		tpm  TPM
		id   string
	}{
		{"ok-ascii", TPM{"id:53544D20", "ST33", "id:00010102"}, "gw-1"},
		{"ok-long-id", TPM{"m", "n", "v"}, string(make([]byte, 300))},
		{"ok-utf8", TPM{"Hersteller", "Modèle", "1.0"}, "passerelle-é"},
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			san, err := Marshal(tc.tpm, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
				ExtraExtensions: []pkix.Extension{{Id: OIDSubjectAltName, Critical: true, Value: san}},
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
			if err != nil {
				t.Fatal(err)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			got, ids, err := Parse(c)
			if err != nil || got != tc.tpm || len(ids) != 1 || ids[0] != tc.id {
				t.Fatalf("got %+v %q %v", got, ids, err)
			}
		})
	}
}

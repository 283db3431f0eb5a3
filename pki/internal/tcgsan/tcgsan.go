// Package tcgsan encodes and decodes the subject alternative names of TPM
// certificates that Go's x509 package does not handle: the TCG directoryName
// of TPM manufacturer, model and version, and RFC 4043 permanentIdentifier
// otherNames (which carry the gateway id in AK and gateway certificates).
package tcgsan

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

// OIDs of the names and of the extension.
var (
	OIDSubjectAltName  = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidTPMManufacturer = asn1.ObjectIdentifier{2, 23, 133, 2, 1}
	oidTPMModel        = asn1.ObjectIdentifier{2, 23, 133, 2, 2}
	oidTPMVersion      = asn1.ObjectIdentifier{2, 23, 133, 2, 3}
	oidPermanentID     = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 3}
)

// TPM is the TPM manufacturer, model and version.
type TPM struct {
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Version      string `json:"version"`
}

// otherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT ANY }, itself
// tagged [0] IMPLICIT as a GeneralName.
type otherName struct {
	TypeID asn1.ObjectIdentifier
	Value  asn1.RawValue
}

// permanentIdentifier ::= SEQUENCE { identifierValue UTF8String OPTIONAL,
// assigner OID OPTIONAL } (RFC 4043).
type permanentIdentifier struct {
	IdentifierValue string `asn1:"utf8,optional"`
}

// Parse reads the TPM details and permanent identifiers from c's SAN.
func Parse(c *x509.Certificate) (tpm TPM, permanentIDs []string, err error) {
	for _, ext := range c.Extensions {
		if !ext.Id.Equal(OIDSubjectAltName) {
			continue
		}
		var names []asn1.RawValue
		if _, err := asn1.Unmarshal(ext.Value, &names); err != nil {
			return tpm, nil, fmt.Errorf("subject alternative name: %w", err)
		}
		for _, gn := range names {
			if gn.Class != asn1.ClassContextSpecific {
				continue
			}
			switch gn.Tag {
			case 0:
				id, err := parsePermanentID(gn.FullBytes)
				if err != nil {
					return tpm, nil, err
				}
				if id != "" {
					permanentIDs = append(permanentIDs, id)
				}
			case 4:
				if err := tpm.fill(gn.Bytes); err != nil {
					return tpm, nil, err
				}
			}
		}
	}
	return tpm, permanentIDs, nil
}

func (t *TPM) fill(dirName []byte) error {
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(dirName, &rdns); err != nil {
		return fmt.Errorf("directoryName: %w", err)
	}
	for _, rdn := range rdns {
		for _, atv := range rdn {
			s, _ := atv.Value.(string)
			switch {
			case atv.Type.Equal(oidTPMManufacturer):
				t.Manufacturer = s
			case atv.Type.Equal(oidTPMModel):
				t.Model = s
			case atv.Type.Equal(oidTPMVersion):
				t.Version = s
			}
		}
	}
	return nil
}

func parsePermanentID(der []byte) (string, error) {
	var on otherName
	if _, err := asn1.UnmarshalWithParams(der, &on, "tag:0"); err != nil {
		return "", fmt.Errorf("otherName: %w", err)
	}
	if !on.TypeID.Equal(oidPermanentID) {
		return "", nil
	}
	var pid permanentIdentifier
	if _, err := asn1.UnmarshalWithParams(on.Value.FullBytes, &pid, "explicit,tag:0"); err != nil {
		return "", fmt.Errorf("permanentIdentifier: %w", err)
	}
	return pid.IdentifierValue, nil
}

// Marshal encodes GeneralNames { directoryName (tpm), otherName
// permanentIdentifier (id) }: the value of the SAN extension.
func Marshal(tpm TPM, permanentID string) ([]byte, error) {
	utf8 := func(s string) asn1.RawValue { return asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(s)} }
	dir, err := asn1.Marshal(pkix.RDNSequence{
		{{Type: oidTPMManufacturer, Value: utf8(tpm.Manufacturer)}},
		{{Type: oidTPMModel, Value: utf8(tpm.Model)}},
		{{Type: oidTPMVersion, Value: utf8(tpm.Version)}},
	})
	if err != nil {
		return nil, err
	}
	pid, err := asn1.Marshal(permanentIdentifier{permanentID})
	if err != nil {
		return nil, err
	}
	other, err := asn1.MarshalWithParams(otherName{
		TypeID: oidPermanentID,
		Value:  asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: pid},
	}, "tag:0")
	if err != nil {
		return nil, err
	}
	return asn1.Marshal([]asn1.RawValue{
		{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: dir},
		{FullBytes: other},
	})
}

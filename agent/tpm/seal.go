package tpm

import (
	"encoding/json"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// sealedBlob is a sealed data object: useless outside the TPM that made it.
type sealedBlob struct {
	Public  []byte `json:"public"`
	Private []byte `json:"private"`
}

// Seal seals data (at most 128 bytes) to the TPM's storage root key (the
// TCG ECC P-256 SRK, derived from the owner seed): the blob opens only in
// this TPM. The data crosses the bus encrypted, in a session salted with
// the SRK.
func (t *TPM) Seal(data []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unloadKeys() // swtpm has room for the AK and two more objects
	tp := transport.FromReadWriter(t.ch)
	srk, err := createSRK(tp)
	if err != nil {
		return nil, err
	}
	defer flush(tp, srk.ObjectHandle)
	pub, err := srk.OutPublic.Contents()
	if err != nil {
		return nil, fmt.Errorf("SRK public: %w", err)
	}
	rsp, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{Handle: srk.ObjectHandle, Name: srk.Name,
			Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.AESEncryption(128, tpm2.EncryptIn), tpm2.Salted(srk.ObjectHandle, *pub))},
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: data})}},
		InPublic: tpm2.New2B(tpm2.TPMTPublic{Type: tpm2.TPMAlgKeyedHash, NameAlg: tpm2.TPMAlgSHA256,
			ObjectAttributes: tpm2.TPMAObject{FixedTPM: true, FixedParent: true, UserWithAuth: true, NoDA: true}}),
	}.Execute(tp)
	if err != nil {
		return nil, fmt.Errorf("seal to the TPM: %w", err)
	}
	return json.Marshal(sealedBlob{Public: tpm2.Marshal(rsp.OutPublic), Private: tpm2.Marshal(rsp.OutPrivate)})
}

// Unseal opens a blob that Seal made in this TPM.
func (t *TPM) Unseal(blob []byte) ([]byte, error) {
	var b sealedBlob
	if err := json.Unmarshal(blob, &b); err != nil {
		return nil, fmt.Errorf("sealed blob: %w", err)
	}
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](b.Public)
	if err != nil {
		return nil, fmt.Errorf("sealed blob public: %w", err)
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](b.Private)
	if err != nil {
		return nil, fmt.Errorf("sealed blob private: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unloadKeys()
	tp := transport.FromReadWriter(t.ch)
	srk, err := createSRK(tp)
	if err != nil {
		return nil, err
	}
	defer flush(tp, srk.ObjectHandle)
	srkPub, err := srk.OutPublic.Contents()
	if err != nil {
		return nil, fmt.Errorf("SRK public: %w", err)
	}
	obj, err := tpm2.Load{ParentHandle: tpm2.AuthHandle{Handle: srk.ObjectHandle, Name: srk.Name, Auth: tpm2.PasswordAuth(nil)},
		InPrivate: *priv, InPublic: *pub}.Execute(tp)
	if err != nil {
		return nil, fmt.Errorf("load sealed blob (made by another TPM?): %w", err)
	}
	defer flush(tp, obj.ObjectHandle)
	out, err := tpm2.Unseal{ItemHandle: tpm2.AuthHandle{Handle: obj.ObjectHandle, Name: obj.Name,
		Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.AESEncryption(128, tpm2.EncryptOut), tpm2.Salted(srk.ObjectHandle, *srkPub))}}.Execute(tp)
	if err != nil {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	return out.OutData.Buffer, nil
}

func createSRK(tp transport.TPM) (*tpm2.CreatePrimaryResponse, error) {
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(tp)
	if err != nil {
		return nil, fmt.Errorf("create the TPM's storage root key: %w", err)
	}
	return rsp, nil
}

func flush(tp transport.TPM, h tpm2.TPMHandle) {
	_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(tp)
}

//! The key file format: the JSON a key is stored as, and opening it (PBKDF2-HMAC-SHA256, then
//! AES-256-GCM with the public fields as associated data).

use super::*;

// === The file format ===

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyFile {
    pub(super) version: u32,
    pub(super) name: String,
    pub(super) algorithm: KeyAlgorithm,
    pub(super) created: String,
    pub(super) status: KeyStatus,
    pub(super) public_key_spki_b64: String,
    pub(super) kdf: KdfParams,
    pub(super) aead: AeadParams,
    pub(super) ciphertext_b64: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KdfParams {
    pub(super) name: String,
    pub(super) iterations: u32,
    pub(super) salt_b64: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AeadParams {
    pub(super) name: String,
    pub(super) nonce_b64: String,
}

pub(super) const KDF_NAME: &str = "pbkdf2-hmac-sha256";
pub(super) const AEAD_NAME: &str = "aes-256-gcm";

impl KeyFile {
    /// The AEAD associated data: every public field a swap or edit could abuse.
    pub(super) fn aad(&self) -> Vec<u8> {
        format!(
            "lienthong-keystore-v{}\nname={}\nalgorithm={}\nstatus={}\nspki={}\n",
            self.version,
            self.name,
            self.algorithm.as_str(),
            self.status.as_str(),
            self.public_key_spki_b64
        )
        .into_bytes()
    }
}

pub(super) fn parse_file(path: &Path, len: u64) -> Result<KeyFile, KeystoreError> {
    if len > MAX_KEY_FILE_BYTES {
        return Err(corrupt(path, "the file is too large for a key file"));
    }
    let bytes = fs::read(path).map_err(io_err("reading key file", path))?;
    let file: KeyFile = serde_json::from_slice(&bytes)
        .map_err(|e| corrupt(path, &format!("invalid JSON ({e})")))?;
    if file.version != FILE_VERSION {
        return Err(corrupt(
            path,
            &format!("unsupported version {}", file.version),
        ));
    }
    if file.kdf.name != KDF_NAME {
        return Err(corrupt(
            path,
            &format!("unsupported KDF {:?}", file.kdf.name),
        ));
    }
    if file.aead.name != AEAD_NAME {
        return Err(corrupt(
            path,
            &format!("unsupported AEAD {:?}", file.aead.name),
        ));
    }
    if !(MIN_PBKDF2_ITERATIONS..=MAX_PBKDF2_ITERATIONS).contains(&file.kdf.iterations) {
        return Err(corrupt(
            path,
            &format!(
                "PBKDF2 iteration count {} out of range",
                file.kdf.iterations
            ),
        ));
    }
    check_name(&file.name).map_err(|_| corrupt(path, "invalid key name inside the file"))?;
    Ok(file)
}

pub(super) fn derive_key(
    passphrase: &Passphrase,
    salt: &[u8],
    iterations: u32,
) -> Result<LessSafeKey, KeystoreError> {
    let iterations =
        std::num::NonZeroU32::new(iterations).ok_or(KeystoreError::IterationsTooLow {
            requested: 0,
            min: MIN_PBKDF2_ITERATIONS,
        })?;
    let mut key = Zeroizing::new([0u8; 32]);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        passphrase.bytes(),
        &mut *key,
    );
    let unbound =
        UnboundKey::new(&AES_256_GCM, &*key).map_err(|_| KeystoreError::BadPassphrase {
            reason: "could not derive an AES key".to_owned(),
        })?;
    Ok(LessSafeKey::new(unbound))
}

pub(super) fn open_file(
    path: &Path,
    file: &KeyFile,
    passphrase: &Passphrase,
) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    let salt = B64
        .decode(&file.kdf.salt_b64)
        .map_err(|_| corrupt(path, "salt_b64 is not base64"))?;
    if salt.len() < SALT_LEN {
        return Err(corrupt(path, "the salt is too short"));
    }
    let nonce: [u8; aead::NONCE_LEN] = B64
        .decode(&file.aead.nonce_b64)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| corrupt(path, "nonce_b64 is not a 12-byte base64 nonce"))?;
    let mut sealed = Zeroizing::new(
        B64.decode(&file.ciphertext_b64)
            .map_err(|_| corrupt(path, "ciphertext_b64 is not base64"))?,
    );
    if sealed.len() <= AES_256_GCM.tag_len() {
        return Err(corrupt(path, "the ciphertext is too short"));
    }
    let key = derive_key(passphrase, &salt, file.kdf.iterations)?;
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(file.aad()),
            &mut sealed,
        )
        .map_err(|_| KeystoreError::WrongPassphrase {
            key: file.name.clone(),
        })?;
    Ok(Zeroizing::new(plain.to_vec()))
}

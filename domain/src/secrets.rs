//! The secret store: values encrypted at rest with XChaCha20-Poly1305.
//!
//! Each row carries its own random 24-byte nonce and the id of the key that sealed it; the
//! secret's name is the associated data, so a ciphertext copied to another name fails to open.

use std::{fmt, io, path::Path, path::PathBuf};

use base64::{
    alphabet,
    engine::{general_purpose, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
    Engine,
};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use chrono::Utc;
use rand::{rngs::OsRng, RngCore};
use sea_orm::{
    sea_query::OnConflict, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use sha2::{Digest, Sha256};

use crate::entities::secret;

/// Environment variable holding the base64 master key.
pub const KEY_ENV: &str = "MCPO_SECRET_KEY";

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const NAME_MAX: usize = 200;

// Operators paste keys from many tools: accept either alphabet, padded or not.
const ANY_PAD: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_ANY: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, ANY_PAD);
const URL_SAFE_ANY: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, ANY_PAD);
const B64: GeneralPurpose = general_purpose::STANDARD;

/// Why a secret-store call failed. Messages never contain a plaintext or key material.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key text is not base64 of exactly 32 bytes; the field says where it came from.
    #[error("{0} must be base64 of exactly 32 bytes")]
    InvalidKey(String),
    /// The key file could not be read, created or written.
    #[error("key file {path}: {source}")]
    KeyFile { path: PathBuf, source: io::Error },
    /// The name is empty, too long or has a character outside `[A-Za-z0-9._/:-]`.
    #[error("invalid secret name {0:?}: use 1–200 characters of A-Z a-z 0-9 . _ / : -")]
    InvalidName(String),
    /// The row names a different key than the one given.
    #[error("secret `{name}` was sealed with key {sealed_by}, not with key {given}")]
    WrongKey {
        name: String,
        sealed_by: String,
        given: String,
    },
    /// Authentication failed: wrong key, or the row was altered or moved.
    #[error("secret `{name}` cannot be decrypted with key {key_id}: wrong key or tampered data")]
    Decrypt { name: String, key_id: String },
    /// The value could not be sealed (only possible for absurdly large values).
    #[error("secret `{0}` cannot be encrypted")]
    Encrypt(String),
    /// The database could not be reached or refused the statement.
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
}

/// Overwrites `bytes` with zeros in a way the optimiser may not drop as a dead store.
fn wipe(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference to one initialised byte.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// Zeros a whole vector, spare capacity included (it may hold an earlier, longer copy).
fn wipe_vec(mut bytes: Vec<u8>) {
    bytes.resize(bytes.capacity(), 0);
    wipe(&mut bytes);
}

/// The 32-byte master key. No `Display`; `Debug` shows only its id.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; KEY_LEN],
    id: String,
}

impl SecretKey {
    fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let digest = Sha256::digest(bytes);
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self { bytes, id }
    }

    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_LEN];
        OsRng.fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    /// Parses base64 (standard or URL-safe, padding optional) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let decoded = STANDARD_ANY
            .decode(text)
            .or_else(|_| URL_SAFE_ANY.decode(text))
            .map_err(|_| SecretError::InvalidKey(KEY_ENV.into()))?;
        let bytes = <[u8; KEY_LEN]>::try_from(decoded.as_slice()).ok();
        wipe_vec(decoded);
        bytes
            .map(Self::from_bytes)
            .ok_or_else(|| SecretError::InvalidKey(KEY_ENV.into()))
    }

    /// Reads `MCPO_SECRET_KEY`; `Ok(None)` when it is unset.
    pub fn from_env() -> Result<Option<Self>, SecretError> {
        match std::env::var(KEY_ENV) {
            Ok(text) => Self::from_base64(&text).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::InvalidKey(KEY_ENV.into())),
        }
    }

    /// Reads the base64 key stored in `path`.
    pub fn from_file(path: &Path) -> Result<Self, SecretError> {
        let file_err = |source| SecretError::KeyFile {
            path: path.to_owned(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(file_err)?;
        let key = Self::from_base64(&text)
            .map_err(|_| SecretError::InvalidKey(format!("key file {}", path.display())));
        wipe_vec(text.into_bytes());
        warn_if_readable_by_others(path);
        key
    }

    /// Reads the key file, or creates it (mode 0600, parent directories too) with a new key.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretError> {
        let file_err = |source| SecretError::KeyFile {
            path: path.to_owned(),
            source,
        };
        if path.exists() {
            return Self::from_file(path);
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(file_err)?;
        }
        let key = Self::generate();
        let mut options = std::fs::OpenOptions::new();
        // `create_new`: if another process won the race, read its key instead of clobbering it.
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                let mut text = key.expose_base64();
                text.push('\n');
                let written =
                    io::Write::write_all(&mut file, text.as_bytes()).and_then(|()| file.sync_all());
                wipe_vec(text.into_bytes());
                written.map_err(file_err)?;
                let (path, key_id) = (path.display(), key.id());
                tracing::info!(%path, %key_id, "generated a secret key");
                Ok(key)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Self::from_file(path),
            Err(e) => Err(file_err(e)),
        }
    }

    /// First 16 hex digits of SHA-256 of the key: names the key without revealing it.
    pub fn id(&self) -> String {
        self.id.clone()
    }

    /// The key as standard base64, for writing it where the operator keeps keys.
    pub fn expose_base64(&self) -> String {
        B64.encode(self.bytes)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.bytes).into())
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            let path = path.display();
            tracing::warn!(%path, "secret key file is readable by group or others; chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.id)
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        wipe(&mut self.bytes);
    }
}

/// A plaintext secret. Prints as `***`; read it only through [`SecretValue::expose`].
#[derive(Clone, Default)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a plaintext.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The plaintext. Keep the borrow short and never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretValue {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretValue {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        wipe_vec(std::mem::take(&mut self.0).into_bytes());
    }
}

/// Checks a secret name: 1–200 characters of `[A-Za-z0-9._/:-]`.
pub fn validate_name(name: &str) -> Result<(), SecretError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "._/:-".contains(c);
    if (1..=NAME_MAX).contains(&name.len()) && name.chars().all(ok_char) {
        return Ok(());
    }
    // Names are not secret, but a bad one may be arbitrarily long: keep errors readable.
    Err(SecretError::InvalidName(name.chars().take(64).collect()))
}

/// Encrypts `value` under `key` bound to `name`: (ciphertext, nonce), both base64.
fn seal(key: &SecretKey, name: &str, value: &SecretValue) -> Result<(String, String), SecretError> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let payload = Payload {
        msg: value.expose().as_bytes(),
        aad: name.as_bytes(),
    };
    let ciphertext = key
        .cipher()
        .encrypt(XNonce::from_slice(&nonce), payload)
        .map_err(|_| SecretError::Encrypt(name.to_owned()))?;
    Ok((B64.encode(ciphertext), B64.encode(nonce)))
}

/// Decrypts a row, checking it was sealed by `key` for this very name.
fn open(key: &SecretKey, row: &secret::Model) -> Result<SecretValue, SecretError> {
    if row.key_id != key.id {
        return Err(SecretError::WrongKey {
            name: row.name.clone(),
            sealed_by: row.key_id.clone(),
            given: key.id(),
        });
    }
    let failed = || SecretError::Decrypt {
        name: row.name.clone(),
        key_id: key.id(),
    };
    let nonce = B64.decode(&row.nonce).map_err(|_| failed())?;
    let ciphertext = B64.decode(&row.ciphertext).map_err(|_| failed())?;
    if nonce.len() != NONCE_LEN {
        return Err(failed());
    }
    let payload = Payload {
        msg: &ciphertext,
        aad: row.name.as_bytes(),
    };
    let plain = key
        .cipher()
        .decrypt(XNonce::from_slice(&nonce), payload)
        .map_err(|_| failed())?;
    // Authenticated bytes we sealed from a `&str` are UTF-8; anything else is corruption.
    String::from_utf8(plain).map(SecretValue).map_err(|e| {
        wipe_vec(e.into_bytes());
        failed()
    })
}

/// Stores `value` under `name`, replacing any previous value (its `created_at` is kept).
pub async fn put<C: ConnectionTrait>(
    conn: &C,
    key: &SecretKey,
    name: &str,
    value: &SecretValue,
) -> Result<(), SecretError> {
    validate_name(name)?;
    let (ciphertext, nonce) = seal(key, name, value)?;
    let now = Utc::now();
    let row = secret::ActiveModel {
        name: Set(name.to_owned()),
        ciphertext: Set(ciphertext),
        nonce: Set(nonce),
        key_id: Set(key.id()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    use secret::Column as Col;
    secret::Entity::insert(row)
        .on_conflict(
            OnConflict::column(Col::Name)
                .update_columns([Col::Ciphertext, Col::Nonce, Col::KeyId, Col::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The plaintext stored under `name`, or `None` when there is no such secret.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    key: &SecretKey,
    name: &str,
) -> Result<Option<SecretValue>, SecretError> {
    validate_name(name)?;
    match secret::Entity::find_by_id(name).one(conn).await? {
        Some(row) => open(key, &row).map(Some),
        None => Ok(None),
    }
}

/// Whether a secret named `name` is stored (no key needed).
pub async fn exists<C: ConnectionTrait>(conn: &C, name: &str) -> Result<bool, SecretError> {
    validate_name(name)?;
    let found = secret::Entity::find_by_id(name)
        .select_only()
        .column(secret::Column::Name)
        .into_tuple::<String>()
        .one(conn)
        .await?;
    Ok(found.is_some())
}

/// Deletes `name`; `false` when it did not exist.
pub async fn delete<C: ConnectionTrait>(conn: &C, name: &str) -> Result<bool, SecretError> {
    validate_name(name)?;
    let res = secret::Entity::delete_by_id(name).exec(conn).await?;
    Ok(res.rows_affected > 0)
}

/// Every stored name, sorted; never a value.
pub async fn list_names<C: ConnectionTrait>(conn: &C) -> Result<Vec<String>, SecretError> {
    Ok(secret::Entity::find()
        .select_only()
        .column(secret::Column::Name)
        .order_by_asc(secret::Column::Name)
        .into_tuple::<String>()
        .all(conn)
        .await?)
}

/// Re-encrypts every row sealed by `old` under `new`, all or nothing; returns how many.
///
/// Rows sealed by any other key are left alone, so a wrong `old` key rewrites nothing.
/// If one row fails to decrypt, the transaction is rolled back and the error names it.
pub async fn rotate<C: ConnectionTrait + TransactionTrait>(
    conn: &C,
    old: &SecretKey,
    new: &SecretKey,
) -> Result<u64, SecretError> {
    use secret::Column as Col;
    let txn = conn.begin().await?;
    let rows = secret::Entity::find()
        .filter(Col::KeyId.eq(old.id()))
        .order_by_asc(Col::Name)
        .all(&txn)
        .await?;
    let mut rotated = 0;
    for row in rows {
        let value = match open(old, &row) {
            Ok(value) => value,
            Err(e) => {
                txn.rollback().await?;
                return Err(e);
            }
        };
        let (ciphertext, nonce) = seal(new, &row.name, &value)?;
        // `updated_at` tracks the value, which rotation does not change. Matching the old
        // ciphertext skips a row that a concurrent `put` replaced since we read it.
        let res = secret::Entity::update_many()
            .col_expr(Col::Ciphertext, ciphertext.into())
            .col_expr(Col::Nonce, nonce.into())
            .col_expr(Col::KeyId, new.id().into())
            .filter(Col::Name.eq(&row.name))
            .filter(Col::Ciphertext.eq(&row.ciphertext))
            .exec(&txn)
            .await?;
        rotated += res.rows_affected;
    }
    txn.commit().await?;
    Ok(rotated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parsing_accepts_both_alphabets_and_rejects_the_rest() {
        // 0xfb 0xff … encodes with `+`/`/` in standard and `-`/`_` in URL-safe base64.
        let raw = [0xfbu8; KEY_LEN];
        let std = general_purpose::STANDARD.encode(raw);
        let url = general_purpose::URL_SAFE_NO_PAD.encode(raw);
        assert!(std.contains('+') && url.contains('-'));
        let a = SecretKey::from_base64(&std).unwrap();
        let b = SecretKey::from_base64(&format!("  {url}\n")).unwrap();
        assert_eq!(a.bytes, raw);
        assert_eq!(a.id(), b.id());

        let short = general_purpose::STANDARD.encode([1u8; 31]);
        let long = general_purpose::STANDARD.encode([1u8; 33]);
        for bad in ["", "not base64 at all!!", short.as_str(), long.as_str()] {
            let err = SecretKey::from_base64(bad).unwrap_err();
            assert!(matches!(err, SecretError::InvalidKey(_)), "{bad:?}");
            assert_eq!(
                err.to_string(),
                "MCPO_SECRET_KEY must be base64 of exactly 32 bytes"
            );
        }
    }

    #[test]
    fn key_id_is_16_hex_digits_of_sha256() {
        let key = SecretKey::from_base64(&general_purpose::STANDARD.encode([0u8; 32])).unwrap();
        // SHA-256 of 32 zero bytes starts 66687aadf862bd77.
        assert_eq!(key.id(), "66687aadf862bd77");
        assert_ne!(SecretKey::generate().id(), SecretKey::generate().id());
    }

    #[test]
    fn names_are_validated() {
        for good in [
            "a",
            "registry/3f2a/auth",
            "deploy:web.ENV_VAR-1",
            &"x".repeat(200),
        ] {
            assert!(validate_name(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "has space",
            "ünï",
            "semi;colon",
            "new\nline",
            &"x".repeat(201),
        ] {
            assert!(
                matches!(validate_name(bad), Err(SecretError::InvalidName(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn values_and_keys_are_redacted() {
        let value = SecretValue::new("hunter2");
        assert_eq!(format!("{value}"), "***");
        assert_eq!(format!("{value:?}"), "***");
        assert_eq!(format!("{:?}", Some(&value)), "Some(***)");
        assert_eq!(value.expose(), "hunter2");

        let key = SecretKey::generate();
        let shown = format!("{key:?}");
        assert_eq!(shown, format!("SecretKey({})", key.id()));
        assert!(!shown.contains(&key.expose_base64()));
    }

    #[test]
    fn seal_open_round_trip_binds_key_and_name() {
        let key = SecretKey::generate();
        let value = SecretValue::new("tok-123");
        let (ciphertext, nonce) = seal(&key, "a/b", &value).unwrap();
        assert!(!ciphertext.contains("tok-123"));
        assert_eq!(B64.decode(&nonce).unwrap().len(), NONCE_LEN);
        let now = Utc::now();
        let mut row = secret::Model {
            name: "a/b".into(),
            ciphertext,
            nonce,
            key_id: key.id(),
            created_at: now,
            updated_at: now,
        };
        assert_eq!(open(&key, &row).unwrap().expose(), "tok-123");
        // A second seal of the same value uses a fresh nonce.
        assert_ne!(seal(&key, "a/b", &value).unwrap().1, row.nonce);

        row.name = "a/c".into();
        let err = open(&key, &row).unwrap_err();
        assert!(matches!(err, SecretError::Decrypt { .. }), "{err}");
        assert!(!err.to_string().contains("tok-123"));
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = std::env::temp_dir().join(format!("mcpo-key-{}", uuid::Uuid::new_v4()));
        let path = dir.join("nested/secret.key");
        let created = SecretKey::load_or_create(&path).unwrap();
        let loaded = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(created.id(), loaded.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").unwrap();
        let err = SecretKey::load_or_create(&path).unwrap_err();
        assert!(err.to_string().starts_with("key file "), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

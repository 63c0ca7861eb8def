//! Where the secret-store key comes from (`MCPO_SECRET_KEY`, else the key file, created on
//! first start), and `secrets rotate-key`.

use std::path::Path;

use domain::{
    secrets::{self, SecretError, SecretKey},
    Database,
};

use crate::cli::RunError;

/// The key: `MCPO_SECRET_KEY` when set, else `file` (created with mode 0600 when missing).
pub fn load(file: &Path) -> Result<SecretKey, SecretError> {
    match SecretKey::from_env()? {
        Some(key) => Ok(key),
        None => SecretKey::load_or_create(file),
    }
}

/// Re-encrypts every secret under a new key. The new key is written next to the file before
/// the database changes, so a crash in between loses nothing: `<file>.new` holds it.
pub async fn rotate(db: &Database, file: &Path) -> Result<(), RunError> {
    let from_env = SecretKey::from_env()?;
    let old = match &from_env {
        Some(k) => k.clone(),
        None => SecretKey::load_or_create(file)?,
    };
    let new = SecretKey::generate();
    let staged = file.with_extension("key.new");
    if from_env.is_none() {
        write_private(&staged, &new.expose_base64())
            .map_err(|e| RunError::Config(format!("cannot write {}: {e}", staged.display())))?;
    }
    let count = secrets::rotate(&db.conn, &old, &new).await?;
    if from_env.is_some() {
        println!("{}", new.expose_base64());
        eprintln!("re-encrypted {count} secret(s); set MCPO_SECRET_KEY to the key above (key id {}) before the next start", new.id());
        return Ok(());
    }
    let retired = file.with_extension("key.old");
    std::fs::rename(file, &retired).map_err(|e| {
        RunError::Config(format!(
            "cannot keep the old key as {}: {e}",
            retired.display()
        ))
    })?;
    std::fs::rename(&staged, file).map_err(|e| {
        RunError::Config(format!(
            "cannot install the new key {}: {e}",
            file.display()
        ))
    })?;
    eprintln!(
        "re-encrypted {count} secret(s) under key {}; the old key is kept in {}",
        new.id(),
        retired.display()
    );
    Ok(())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

//! The secret store against real databases: round trips, tampering, rotation, and no plaintext
//! on disk, on SQLite and PostgreSQL.

use base64::{engine::general_purpose::STANDARD, Engine};
use domain::{
    entities::secret,
    secrets::{self, SecretError, SecretKey, SecretValue},
    Database, DatabaseUrl, DbOptions,
};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Set, Statement,
    TransactionTrait,
};
use testkit::{Backend, TestDb, BACKENDS};

const CANARY: &str = "sk-live-PLAINTEXT-CANARY-1234567890";

async fn open_db(backend: Backend) -> (TestDb, Database) {
    let test_db = TestDb::new(backend).await;
    let db = Database::connect(
        &DatabaseUrl::parse(&test_db.url).unwrap(),
        &DbOptions::default(),
    )
    .await
    .unwrap();
    db.migrate_up().await.unwrap();
    (test_db, db)
}

async fn read(db: &Database, key: &SecretKey, name: &str) -> Result<Option<String>, SecretError> {
    Ok(secrets::get(&db.conn, key, name)
        .await?
        .map(|v| v.expose().to_owned()))
}

async fn row(db: &Database, name: &str) -> secret::Model {
    secret::Entity::find_by_id(name)
        .one(&db.conn)
        .await
        .unwrap()
        .expect("row exists")
}

/// Flips one bit of the stored ciphertext, keeping it valid base64.
async fn tamper(db: &Database, name: &str) {
    let model = row(db, name).await;
    let mut bytes = STANDARD.decode(&model.ciphertext).unwrap();
    bytes[0] ^= 0x01;
    let mut active = model.into_active_model();
    active.ciphertext = Set(STANDARD.encode(bytes));
    active.update(&db.conn).await.unwrap();
}

#[tokio::test]
async fn put_get_overwrite_delete_list() {
    for backend in BACKENDS {
        let (_t, db) = open_db(backend).await;
        let key = SecretKey::generate();
        let c = &db.conn;

        assert_eq!(read(&db, &key, "registry/1/auth").await.unwrap(), None);
        assert!(!secrets::exists(c, "registry/1/auth").await.unwrap());

        secrets::put(c, &key, "registry/1/auth", &"token-one".into())
            .await
            .unwrap();
        assert_eq!(
            read(&db, &key, "registry/1/auth").await.unwrap().as_deref(),
            Some("token-one"),
            "{backend:?}"
        );
        assert!(secrets::exists(c, "registry/1/auth").await.unwrap());
        let first = row(&db, "registry/1/auth").await;
        assert_eq!(first.key_id, key.id());

        secrets::put(c, &key, "registry/1/auth", &"token-two".into())
            .await
            .unwrap();
        assert_eq!(
            read(&db, &key, "registry/1/auth").await.unwrap().as_deref(),
            Some("token-two")
        );
        let second = row(&db, "registry/1/auth").await;
        assert_ne!(first.nonce, second.nonce, "fresh nonce per encryption");
        assert_eq!(
            first.created_at, second.created_at,
            "overwrite keeps created_at"
        );
        assert!(second.updated_at >= first.updated_at);

        secrets::put(c, &key, "deploy/web/env:A", &SecretValue::new(""))
            .await
            .unwrap();
        assert_eq!(
            read(&db, &key, "deploy/web/env:A")
                .await
                .unwrap()
                .as_deref(),
            Some(""),
            "empty values round-trip"
        );
        assert_eq!(
            secrets::list_names(c).await.unwrap(),
            vec!["deploy/web/env:A", "registry/1/auth"]
        );

        assert!(secrets::delete(c, "registry/1/auth").await.unwrap());
        assert!(!secrets::delete(c, "registry/1/auth").await.unwrap());
        assert_eq!(read(&db, &key, "registry/1/auth").await.unwrap(), None);
        assert_eq!(
            secrets::list_names(c).await.unwrap(),
            vec!["deploy/web/env:A"]
        );

        let bad = secrets::put(c, &key, "no spaces", &"x".into()).await;
        assert!(matches!(bad, Err(SecretError::InvalidName(_))), "{bad:?}");
        db.close().await;
    }
}

#[tokio::test]
async fn works_inside_a_caller_transaction() {
    for backend in BACKENDS {
        let (_t, db) = open_db(backend).await;
        let key = SecretKey::generate();
        let txn = db.conn.begin().await.unwrap();
        secrets::put(&txn, &key, "tx/a", &"v".into()).await.unwrap();
        assert!(secrets::exists(&txn, "tx/a").await.unwrap());
        txn.rollback().await.unwrap();
        assert!(
            !secrets::exists(&db.conn, "tx/a").await.unwrap(),
            "{backend:?}"
        );
        db.close().await;
    }
}

#[tokio::test]
async fn wrong_key_tampering_and_moved_rows_are_refused() {
    for backend in BACKENDS {
        let (_t, db) = open_db(backend).await;
        let key = SecretKey::generate();
        secrets::put(&db.conn, &key, "a/one", &CANARY.into())
            .await
            .unwrap();
        secrets::put(&db.conn, &key, "a/two", &"other".into())
            .await
            .unwrap();

        let other = SecretKey::generate();
        let err = read(&db, &other, "a/one").await.unwrap_err();
        assert!(matches!(err, SecretError::WrongKey { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("a/one") && msg.contains(&key.id()) && msg.contains(&other.id()));

        // Same key id, different bytes: only the AEAD tag can tell.
        let mut forged = row(&db, "a/one").await.into_active_model();
        forged.ciphertext = Set(row(&db, "a/two").await.ciphertext);
        forged.update(&db.conn).await.unwrap();
        let err = read(&db, &key, "a/one").await.unwrap_err();
        assert!(matches!(err, SecretError::Decrypt { .. }), "{err}");

        // Move a whole sealed row (ciphertext + nonce) to another name.
        let two = row(&db, "a/two").await;
        let mut moved = row(&db, "a/one").await.into_active_model();
        moved.ciphertext = Set(two.ciphertext);
        moved.nonce = Set(two.nonce);
        moved.update(&db.conn).await.unwrap();
        let err = read(&db, &key, "a/one").await.unwrap_err();
        assert!(matches!(err, SecretError::Decrypt { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "secret `a/one` cannot be decrypted with key {}: wrong key or tampered data",
                key.id()
            )
        );
        assert!(!err.to_string().contains(&key.expose_base64()));

        // Bit flip in place; the untouched row still opens.
        secrets::put(&db.conn, &key, "a/one", &CANARY.into())
            .await
            .unwrap();
        tamper(&db, "a/one").await;
        let err = read(&db, &key, "a/one").await.unwrap_err();
        assert!(matches!(err, SecretError::Decrypt { .. }), "{err}");
        assert!(!err.to_string().contains(CANARY));
        assert!(!format!("{err:?}").contains(CANARY));
        assert_eq!(
            read(&db, &key, "a/two").await.unwrap().as_deref(),
            Some("other"),
            "{backend:?}"
        );
        db.close().await;
    }
}

#[tokio::test]
async fn rotate_re_encrypts_every_row_of_the_old_key() {
    for backend in BACKENDS {
        let (_t, db) = open_db(backend).await;
        let (old, new, unrelated) = (
            SecretKey::generate(),
            SecretKey::generate(),
            SecretKey::generate(),
        );
        for (name, value) in [("r/a", "va"), ("r/b", "vb"), ("r/c", "vc")] {
            secrets::put(&db.conn, &old, name, &value.into())
                .await
                .unwrap();
        }
        secrets::put(&db.conn, &unrelated, "r/other", &"vo".into())
            .await
            .unwrap();
        let before = row(&db, "r/a").await;

        // A key that sealed nothing rewrites nothing.
        let wrong = SecretKey::generate();
        assert_eq!(secrets::rotate(&db.conn, &wrong, &new).await.unwrap(), 0);
        assert_eq!(row(&db, "r/a").await, before);
        assert_eq!(read(&db, &old, "r/a").await.unwrap().as_deref(), Some("va"));

        assert_eq!(
            secrets::rotate(&db.conn, &old, &new).await.unwrap(),
            3,
            "{backend:?}"
        );
        for (name, value) in [("r/a", "va"), ("r/b", "vb"), ("r/c", "vc")] {
            assert_eq!(read(&db, &new, name).await.unwrap().as_deref(), Some(value));
            let err = read(&db, &old, name).await.unwrap_err();
            assert!(matches!(err, SecretError::WrongKey { .. }), "{err}");
            assert_eq!(row(&db, name).await.key_id, new.id());
        }
        let after = row(&db, "r/a").await;
        assert_ne!(after.ciphertext, before.ciphertext);
        assert_ne!(after.nonce, before.nonce);
        assert_eq!(
            read(&db, &unrelated, "r/other").await.unwrap().as_deref(),
            Some("vo"),
            "rows of other keys are left alone"
        );
        assert_eq!(secrets::rotate(&db.conn, &old, &new).await.unwrap(), 0);
        db.close().await;
    }
}

#[tokio::test]
async fn rotate_is_all_or_nothing() {
    for backend in BACKENDS {
        let (_t, db) = open_db(backend).await;
        let (old, new) = (SecretKey::generate(), SecretKey::generate());
        // Rotation goes in name order, so the bad row comes after good ones were rewritten.
        for name in ["m/1", "m/2", "z/bad"] {
            secrets::put(&db.conn, &old, name, &name.into())
                .await
                .unwrap();
        }
        tamper(&db, "z/bad").await;
        let snapshot = secret::Entity::find().all(&db.conn).await.unwrap();

        let err = secrets::rotate(&db.conn, &old, &new).await.unwrap_err();
        match &err {
            SecretError::Decrypt { name, key_id } => {
                assert_eq!(
                    (name.as_str(), key_id.as_str()),
                    ("z/bad", old.id().as_str())
                )
            }
            other => panic!("{backend:?}: expected Decrypt, got {other}"),
        }
        assert_eq!(
            secret::Entity::find().all(&db.conn).await.unwrap(),
            snapshot,
            "{backend:?}: nothing half-written"
        );
        assert_eq!(
            read(&db, &old, "m/1").await.unwrap().as_deref(),
            Some("m/1")
        );
        db.close().await;
    }
}

#[tokio::test]
async fn plaintext_never_at_rest() {
    for backend in BACKENDS {
        let (test_db, db) = open_db(backend).await;
        let key = SecretKey::generate();
        let name = "registry/canary/auth";
        secrets::put(&db.conn, &key, name, &CANARY.into())
            .await
            .unwrap();
        assert_eq!(
            read(&db, &key, name).await.unwrap().as_deref(),
            Some(CANARY)
        );
        // Base64 would hide the canary from a byte search, so look inside the decoded column too.
        let sealed = STANDARD.decode(row(&db, name).await.ciphertext).unwrap();
        assert!(
            !sealed.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "{backend:?}: ciphertext column holds the plaintext"
        );

        match backend {
            Backend::Sqlite => {
                db.close().await;
                let file = test_db.url.strip_prefix("sqlite://").unwrap();
                let mut on_disk = std::fs::read(file).unwrap();
                if let Ok(wal) = std::fs::read(format!("{file}-wal")) {
                    on_disk.extend(wal);
                }
                let has = |needle: &[u8]| on_disk.windows(needle.len()).any(|w| w == needle);
                // Proves we read the file the row went to; otherwise the check below is empty.
                assert!(has(name.as_bytes()), "row not found on disk");
                assert!(
                    !has(CANARY.as_bytes()),
                    "plaintext found in the SQLite files"
                );
                assert!(!has(key.expose_base64().as_bytes()), "key found on disk");
            }
            Backend::Postgres => {
                let rows = db
                    .conn
                    .query_all(Statement::from_string(
                        db.conn.get_database_backend(),
                        "SELECT name, ciphertext, nonce, key_id FROM secrets",
                    ))
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 1);
                for col in ["name", "ciphertext", "nonce", "key_id"] {
                    let text: String = rows[0].try_get("", col).unwrap();
                    assert!(!text.contains(CANARY), "plaintext in column {col}");
                }
                db.close().await;
            }
        }
    }
}
